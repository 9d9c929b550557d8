package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;

import java.io.Serializable;
import java.util.Objects;

/**
 * The optimiser-step settings that every trainer shares ({@link FineTuner} and peft-spark's
 * distributed one): peak learning rate, schedule shape, warmup, micro-batch size, gradient
 * accumulation, global-norm clipping, seed and shuffling. {@link TrainerBuilder} sets them (each
 * setter checks its argument; the defaults are Hugging Face Trainer's where it has one) and hands a
 * copy of them to the trainer it builds, which reads them here. Serializable, so a distributed
 * trainer ships them to its workers.
 */
public final class StepSettings implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Peak learning rate. */
    private double learningRate = 2e-4;

    /** Shape of the schedule after warmup. */
    private LrSchedule.Kind scheduleKind = LrSchedule.Kind.LINEAR;

    /** Linear warmup steps. */
    private long warmupSteps;

    /** Examples per micro-batch. */
    private int batchSize = 8;

    /** Micro-batches per optimiser step. */
    private int gradientAccumulation = 1;

    /** Global gradient-norm clip; 0 turns clipping off. */
    private double maxGradNorm = 1.0;

    /** Seed of the data order. */
    private long seed = 42;

    /** Whether each epoch visits the examples in a seeded random order. */
    private boolean shuffle = true;

    // the defaults: lr 2e-4, LINEAR, no warmup, batch 8, no accumulation, clip 1.0, seed 42,
    // shuffled
    StepSettings() {}

    /** {@return a copy that later setter calls on this one do not change} */
    StepSettings copy() {
        StepSettings c = new StepSettings();
        c.setAll(this);
        return c;
    }

    /** Takes every setting from {@code other} (already checked when it was set there). */
    void setAll(StepSettings other) {
        this.learningRate = other.learningRate;
        this.scheduleKind = other.scheduleKind;
        this.warmupSteps = other.warmupSteps;
        this.batchSize = other.batchSize;
        this.gradientAccumulation = other.gradientAccumulation;
        this.maxGradNorm = other.maxGradNorm;
        this.seed = other.seed;
        this.shuffle = other.shuffle;
    }

    /**
     * Sets the peak learning rate (default 2e-4).
     *
     * @param learningRate a finite value &gt; 0
     * @throws IllegalArgumentException if it is not
     */
    void learningRate(double learningRate) {
        checkArgument(
                Double.isFinite(learningRate) && learningRate > 0,
                "learningRate must be finite and > 0, got %s",
                learningRate);
        this.learningRate = learningRate;
    }

    /**
     * Sets the shape of the schedule after warmup (default LINEAR decay, as Hugging Face).
     *
     * @param kind CONSTANT, LINEAR or COSINE
     * @throws NullPointerException if kind is null
     */
    void schedule(LrSchedule.Kind kind) {
        this.scheduleKind = Objects.requireNonNull(kind, "kind");
    }

    /**
     * Sets the number of linear warmup steps (default 0); the trainer checks it against its steps.
     *
     * @param warmupSteps at least 0
     * @throws IllegalArgumentException if it is negative
     */
    void warmupSteps(long warmupSteps) {
        checkArgument(warmupSteps >= 0, "warmupSteps must be >= 0, got %s", warmupSteps);
        this.warmupSteps = warmupSteps;
    }

    /**
     * Sets the examples per micro-batch (default 8).
     *
     * @param batchSize at least 1
     * @throws IllegalArgumentException if it is below 1
     */
    void batchSize(int batchSize) {
        checkArgument(batchSize >= 1, "batchSize must be >= 1, got %s", batchSize);
        this.batchSize = batchSize;
    }

    /**
     * Sets the micro-batches per optimiser step (default 1).
     *
     * @param steps at least 1
     * @throws IllegalArgumentException if it is below 1
     */
    void gradientAccumulation(int steps) {
        checkArgument(steps >= 1, "gradientAccumulation must be >= 1, got %s", steps);
        this.gradientAccumulation = steps;
    }

    /**
     * Sets the global gradient-norm clip (default 1.0, as Hugging Face; 0 turns it off).
     *
     * @param maxGradNorm a finite value &gt;= 0
     * @throws IllegalArgumentException if it is not
     */
    void maxGradNorm(double maxGradNorm) {
        checkArgument(
                Double.isFinite(maxGradNorm) && maxGradNorm >= 0,
                "maxGradNorm must be finite and >= 0 (0 = off), got %s",
                maxGradNorm);
        this.maxGradNorm = maxGradNorm;
    }

    /**
     * Sets the seed of the data order (default 42).
     *
     * @param seed any value
     */
    void seed(long seed) {
        this.seed = seed;
    }

    /**
     * Sets whether each epoch visits the examples in a seeded random order (default true).
     *
     * @param shuffle false to visit them in index order
     */
    void shuffle(boolean shuffle) {
        this.shuffle = shuffle;
    }

    /**
     * @return the peak learning rate
     */
    public double learningRate() {
        return learningRate;
    }

    /**
     * @return the schedule shape after warmup
     */
    public LrSchedule.Kind scheduleKind() {
        return scheduleKind;
    }

    /**
     * @return the linear warmup steps
     */
    public long warmupSteps() {
        return warmupSteps;
    }

    /**
     * @return the examples per micro-batch
     */
    public int batchSize() {
        return batchSize;
    }

    /**
     * @return the micro-batches per optimiser step
     */
    public int gradientAccumulation() {
        return gradientAccumulation;
    }

    /**
     * @return the global gradient-norm clip (0: off)
     */
    public double maxGradNorm() {
        return maxGradNorm;
    }

    /**
     * @return the data-order seed
     */
    public long seed() {
        return seed;
    }

    /**
     * @return whether the data order is shuffled
     */
    public boolean shuffle() {
        return shuffle;
    }
}
