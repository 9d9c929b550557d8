package io.peft4j.mos;

import ai.djl.nn.Parameter;

/**
 * One adapter's global shard pools for one projection type (all targets whose paths are equal up to
 * their layer index): {@code A_pool} (N, in/l) and {@code B_pool} (N, out/l) with {@code N = v L
 * l}. Rows {@code [0, publicRows)} are public; layer {@code i} privately owns the {@code p l} rows
 * from {@code publicRows + i p l}.
 */
final class MosPool {

    /**
     * The type's path with layer indices written as {@code *}, e.g. {@code
     * layers.*.self_attn.q_proj}.
     */
    final String group;

    final Parameter a;
    final Parameter b;
    final long in;
    final long out;
    final int layers;
    final int shards;
    final int privateRank;
    final long rows;
    final long publicRows;

    MosPool(
            String group,
            Parameter a,
            Parameter b,
            long in,
            long out,
            int layers,
            int shards,
            int equivalentRank,
            int privateRank) {
        this.group = group;
        this.a = a;
        this.b = b;
        this.in = in;
        this.out = out;
        this.layers = layers;
        this.shards = shards;
        this.privateRank = privateRank;
        this.rows = (long) equivalentRank * layers * shards;
        this.publicRows = (long) (equivalentRank - privateRank) * layers * shards;
    }

    /** First private row of layer {@code i}. */
    long privateStart(int layer) {
        return publicRows + (long) layer * privateRank * shards;
    }
}
