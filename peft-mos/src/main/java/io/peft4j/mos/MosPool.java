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

    /** The adapter's config: rank, scaling, dropout, shards per vector, private rank. */
    final MosConfig config;

    final long in;
    final long out;
    final int shards;
    final int privateRank;
    final long rows;
    final long publicRows;

    /**
     * The pools {@code a} (N, in / l) and {@code b} (N, out / l) of {@code group}, shared by its
     * {@code layers} layers; the sizes follow from their shapes and {@code config}.
     */
    MosPool(String group, Parameter a, Parameter b, int layers, MosConfig config) {
        this.group = group;
        this.a = a;
        this.b = b;
        this.config = config;
        this.shards = config.shardsPerVector();
        this.privateRank = config.privateRank();
        this.rows = a.getArray().getShape().get(0);
        this.in = a.getArray().getShape().get(1) * shards;
        this.out = b.getArray().getShape().get(1) * shards;
        this.publicRows = (long) (config.equivalentRank() - privateRank) * layers * shards;
    }

    /** First private row of layer {@code i}. */
    long privateStart(int layer) {
        return publicRows + (long) layer * privateRank * shards;
    }
}
