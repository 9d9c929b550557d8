package io.peft4j.core;

import ai.djl.nn.Block;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.util.Pair;
import java.lang.reflect.Field;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Keeps the running statistics of a base model's BatchNorm layers as they are while adapters train:
 * frozen means frozen, and {@code disableAdapters()} then gives the base bit for bit.
 *
 * <p>A BatchNorm layer in a training pass normalises with the batch's statistics and folds them
 * into its running mean and variance (PyTorch's {@code momentum}); freezing its parameters does not
 * stop that. DJL passes {@code 1 - momentum} to PyTorch, whose update is {@code running = m * batch
 * + (1 - m) * running}: with DJL's momentum set to 1 the update writes the running value back
 * unchanged, exactly, while the training pass still normalises with the batch's statistics as
 * PyTorch's train mode does. DJL keeps the momentum in a private field, set here through reflection
 * and put back by {@link #restore()}.
 */
final class NormStatistics {

    private static final Field MOMENTUM;

    static {
        Field f;
        try {
            f = BatchNorm.class.getDeclaredField("momentum");
            f.setAccessible(true);
        } catch (NoSuchFieldException | RuntimeException e) {
            f = null; // another DJL version: freezing reports that it cannot
        }
        MOMENTUM = f;
    }

    private final Map<BatchNorm, Float> saved = new LinkedHashMap<>();

    /** Freezes the running statistics of every BatchNorm in {@code root}'s tree. */
    static NormStatistics freeze(Block root) {
        NormStatistics stats = new NormStatistics();
        Set<Block> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        stats.visit(root, seen);
        return stats;
    }

    private void visit(Block block, Set<Block> seen) {
        if (!seen.add(block)) {
            return;
        }
        if (block instanceof BatchNorm bn) {
            if (MOMENTUM == null) {
                throw new IllegalStateException(
                        "Cannot freeze the running statistics of "
                                + block
                                + ": this DJL version's BatchNorm has no 'momentum' field; call"
                                + " trainNormStatistics(true) to let them train");
            }
            try {
                saved.put(bn, MOMENTUM.getFloat(bn));
                MOMENTUM.setFloat(bn, 1f);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException("Cannot write BatchNorm.momentum", e);
            }
        }
        for (Pair<String, Block> child : block.getChildren()) {
            visit(child.getValue(), seen);
        }
    }

    /** How many BatchNorm layers are frozen. */
    int size() {
        return saved.size();
    }

    /** Puts every momentum back: the statistics update again in training passes. */
    void restore() {
        saved.forEach(
                (bn, momentum) -> {
                    try {
                        MOMENTUM.setFloat(bn, momentum);
                    } catch (IllegalAccessException e) {
                        throw new IllegalStateException("Cannot write BatchNorm.momentum", e);
                    }
                });
        saved.clear();
    }
}
