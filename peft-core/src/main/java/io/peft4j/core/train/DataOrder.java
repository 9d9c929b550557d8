package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.SplittableRandom;

/**
 * Which examples each micro-batch holds, as a pure function of (seed, step, micro-batch): a resumed
 * run finds its place in the data stream from the step number alone.
 *
 * <p>Epoch {@code e} visits the examples in a permutation drawn from {@code SplittableRandom(seed +
 * e * golden)} (Fisher-Yates), or in index order without shuffling. An epoch is cut into {@code
 * size / batchSize} micro-batches and those into groups of {@code accumulation} per optimiser step;
 * the examples left over at the end of an epoch (fewer than a micro-batch, or micro-batches fewer
 * than a group) are skipped that epoch, so every step sees exactly {@code batchSize * accumulation}
 * examples and the mean loss is a mean over the same count.
 */
final class DataOrder {

    /** Spreads consecutive epochs apart in seed space (the 64-bit golden ratio). */
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private final int size;
    private final int batchSize;
    private final int accumulation;
    private final long seed;
    private final boolean shuffle;
    private final long stepsPerEpoch;

    private long cachedEpoch = -1;
    private int[] cachedPermutation;

    DataOrder(int size, int batchSize, int accumulation, long seed, boolean shuffle) {
        checkArgument(batchSize > 0, "batch size must be > 0, got %s", batchSize);
        checkArgument(accumulation > 0, "gradient accumulation must be > 0, got %s", accumulation);
        checkArgument(
                size >= (long) batchSize * accumulation,
                "training data has %s examples, fewer than one optimiser step needs (batch size %s"
                        + " x gradient accumulation %s)",
                size,
                batchSize,
                accumulation);
        this.size = size;
        this.batchSize = batchSize;
        this.accumulation = accumulation;
        this.seed = seed;
        this.shuffle = shuffle;
        this.stepsPerEpoch = (size / batchSize) / accumulation;
    }

    long stepsPerEpoch() {
        return stepsPerEpoch;
    }

    long epochOf(long step) {
        return step / stepsPerEpoch;
    }

    /**
     * Returns the example indices of one micro-batch.
     *
     * @param step the 0-based optimiser step
     * @param micro the micro-batch within the step, in [0, accumulation)
     */
    int[] microBatch(long step, int micro) {
        checkArgument(step >= 0, "step must be >= 0, got %s", step);
        checkArgument(
                micro >= 0 && micro < accumulation,
                "micro-batch must be in [0, %s), got %s",
                accumulation,
                micro);
        int[] permutation = permutation(epochOf(step));
        long first = ((step % stepsPerEpoch) * accumulation + micro) * batchSize;
        int[] indices = new int[batchSize];
        System.arraycopy(permutation, Math.toIntExact(first), indices, 0, batchSize);
        return indices;
    }

    /** The visiting order of one epoch; cached because consecutive steps share an epoch. */
    int[] permutation(long epoch) {
        if (epoch != cachedEpoch) {
            int[] order = new int[size];
            for (int i = 0; i < size; i++) {
                order[i] = i;
            }
            if (shuffle) {
                SplittableRandom random = new SplittableRandom(seed + epoch * GOLDEN);
                for (int i = size - 1; i > 0; i--) {
                    int j = random.nextInt(i + 1);
                    int swap = order[i];
                    order[i] = order[j];
                    order[j] = swap;
                }
            }
            cachedPermutation = order;
            cachedEpoch = epoch;
        }
        return cachedPermutation;
    }
}
