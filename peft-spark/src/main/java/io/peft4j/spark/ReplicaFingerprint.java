package io.peft4j.spark;

import com.google.gson.Gson;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * What each worker reports before training, exchanged once so that every worker reaches the same
 * verdict: enough rows, the same base model, the same adapter configuration, the same trainable
 * tensors with the same starting values, and which checkpoints it holds.
 */
record ReplicaFingerprint(
        int rank,
        int rows,
        String modelKey,
        String baseHash,
        String adapterConfig,
        String trainableShapes,
        String initialHash,
        List<Long> checkpointSteps) {

    private static final Gson GSON = new Gson();

    String toMessage() {
        return GSON.toJson(this);
    }

    static List<ReplicaFingerprint> parse(String[] messages) {
        List<ReplicaFingerprint> all = new ArrayList<>(messages.length);
        for (String m : messages) {
            all.add(GSON.fromJson(m, ReplicaFingerprint.class));
        }
        return all;
    }

    /**
     * Throws on every worker alike when the workers cannot train together.
     *
     * @param all every worker's fingerprint, in worker order
     * @param rowsNeeded rows a worker needs for one optimiser step (batch size x accumulation)
     */
    static void check(List<ReplicaFingerprint> all, int rowsNeeded) {
        List<String> thin = new ArrayList<>();
        for (ReplicaFingerprint f : all) {
            if (f.rows() < rowsNeeded) {
                thin.add("partition " + f.rank() + " has " + f.rows() + " rows");
            }
        }
        if (!thin.isEmpty()) {
            throw new IllegalArgumentException(
                    String.join(", ", thin)
                            + "; every worker needs at least "
                            + rowsNeeded
                            + " (batch size x gradient accumulation): repartition the DataFrame into fewer,"
                            + " non-empty partitions (one partition per worker)");
        }
        ReplicaFingerprint first = all.get(0);
        for (ReplicaFingerprint f : all.subList(1, all.size())) {
            if (!f.modelKey().equals(first.modelKey())) {
                throw new IllegalArgumentException(
                        "workers load different base models: partition 0 loads "
                                + first.modelKey()
                                + ", partition "
                                + f.rank()
                                + " loads "
                                + f.modelKey()
                                + "; every executor must see the same model path");
            }
            if (!f.baseHash().equals(first.baseHash())) {
                throw new IllegalArgumentException(
                        "the base model at "
                                + f.modelKey()
                                + " differs between executors:"
                                + " partition "
                                + f.rank()
                                + "'s weights (checksum "
                                + f.baseHash()
                                + ") are not partition 0's ("
                                + first.baseHash()
                                + "); replicate the same checkpoint to every executor");
            }
            if (!f.adapterConfig().equals(first.adapterConfig())) {
                throw new IllegalArgumentException(
                        "the adapter config of partition "
                                + f.rank()
                                + " differs from"
                                + " partition 0's: "
                                + f.adapterConfig()
                                + " vs "
                                + first.adapterConfig());
            }
            if (!f.trainableShapes().equals(first.trainableShapes())) {
                throw new IllegalArgumentException(
                        "partition "
                                + f.rank()
                                + " trains tensors "
                                + f.trainableShapes()
                                + " but partition 0 trains "
                                + first.trainableShapes());
            }
            if (!f.initialHash().equals(first.initialHash())) {
                throw new IllegalArgumentException(
                        "partition "
                                + f.rank()
                                + "'s adapter starts from other values"
                                + " (checksum "
                                + f.initialHash()
                                + ") than partition 0's ("
                                + first.initialHash()
                                + "); the adapter's initialisation must be seeded the same on every worker");
            }
        }
    }

    /** The newest step for which every worker holds a checkpoint, or 0. */
    static long commonCheckpointStep(List<ReplicaFingerprint> all) {
        Set<Long> common = null;
        for (ReplicaFingerprint f : all) {
            Set<Long> steps = new TreeSet<>(f.checkpointSteps());
            if (common == null) {
                common = steps;
            } else {
                common.retainAll(steps);
            }
        }
        return common == null || common.isEmpty() ? 0 : ((TreeSet<Long>) common).last();
    }
}
