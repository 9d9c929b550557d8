package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Objects;

/**
 * The setters every trainer's builder shares ({@link FineTuner.Builder} and peft-spark's
 * distributed one): peak learning rate, schedule shape, warmup, micro-batch size, gradient
 * accumulation, global-norm clipping, seed and shuffling, and the checkpoint interval, each checked
 * when set. A trainer's builder extends it with its own type as {@code B}, so these setters return
 * that builder, and hands {@link #stepSettings()} and {@link #checkpointEvery()} to the trainer it
 * builds.
 *
 * @param <B> the concrete builder type
 */
public abstract class TrainerBuilder<B extends TrainerBuilder<B>> {

    private final StepSettings settings = new StepSettings();
    private long checkpointEvery;

    /** For subclasses: a builder with the default settings. */
    protected TrainerBuilder() {}

    @SuppressWarnings("unchecked") // B is the class of this builder by the type parameter's bound
    private B self() {
        return (B) this;
    }

    /**
     * The settings set so far, for the trainer this builder builds.
     *
     * @return a copy of the settings (later setter calls do not change it)
     */
    protected final StepSettings stepSettings() {
        return settings.copy();
    }

    /**
     * Sets every step setting at once from another trainer's (for example a distributed trainer
     * handing its settings to each worker's {@link FineTuner}).
     *
     * @param from the settings to take
     * @return this builder
     * @throws NullPointerException if from is null
     */
    public B stepSettings(StepSettings from) {
        settings.setAll(Objects.requireNonNull(from, "from"));
        return self();
    }

    /**
     * The checkpoint interval set so far, for the trainer this builder builds.
     *
     * @return steps between checkpoints; 0 when none was set
     */
    protected final long checkpointEvery() {
        return checkpointEvery;
    }

    /**
     * Saves a checkpoint every {@code every} steps, and after the last step, into the trainer's
     * checkpoint folder (which must then be set).
     *
     * @param every at least 1
     * @return this builder
     * @throws IllegalArgumentException if it is below 1
     */
    public B checkpointEvery(long every) {
        checkArgument(every >= 1, "checkpointEvery must be >= 1 step, got %s", every);
        this.checkpointEvery = every;
        return self();
    }

    /**
     * Sets the peak learning rate (default 2e-4).
     *
     * @param learningRate a finite value &gt; 0
     * @return this builder
     * @throws IllegalArgumentException if it is not
     */
    public B learningRate(double learningRate) {
        settings.learningRate(learningRate);
        return self();
    }

    /**
     * Sets the shape of the schedule after warmup (default LINEAR decay, as Hugging Face).
     *
     * @param kind CONSTANT, LINEAR or COSINE
     * @return this builder
     * @throws NullPointerException if kind is null
     */
    public B schedule(LrSchedule.Kind kind) {
        settings.schedule(kind);
        return self();
    }

    /**
     * Sets the number of linear warmup steps (default 0).
     *
     * @param warmupSteps at least 0 and at most the number of steps
     * @return this builder
     * @throws IllegalArgumentException if it is negative
     */
    public B warmupSteps(long warmupSteps) {
        settings.warmupSteps(warmupSteps);
        return self();
    }

    /**
     * Sets the examples per micro-batch (default 8; per worker in a distributed trainer).
     *
     * @param batchSize at least 1
     * @return this builder
     * @throws IllegalArgumentException if it is below 1
     */
    public B batchSize(int batchSize) {
        settings.batchSize(batchSize);
        return self();
    }

    /**
     * Sets the micro-batches per optimiser step (default 1; per worker in a distributed trainer).
     *
     * @param steps at least 1
     * @return this builder
     * @throws IllegalArgumentException if it is below 1
     */
    public B gradientAccumulation(int steps) {
        settings.gradientAccumulation(steps);
        return self();
    }

    /**
     * Sets the global gradient-norm clip (default 1.0, as Hugging Face; 0 turns it off); a
     * distributed trainer clips the averaged gradient.
     *
     * @param maxGradNorm a finite value &gt;= 0
     * @return this builder
     * @throws IllegalArgumentException if it is not
     */
    public B maxGradNorm(double maxGradNorm) {
        settings.maxGradNorm(maxGradNorm);
        return self();
    }

    /**
     * Sets the seed of the data order (default 42; {@link FineTuner} also seeds each step's engine
     * randomness from it).
     *
     * @param seed any value
     * @return this builder
     */
    public B seed(long seed) {
        settings.seed(seed);
        return self();
    }

    /**
     * Sets whether each epoch visits the examples in a seeded random order (default true).
     *
     * @param shuffle false to visit them in index order
     * @return this builder
     */
    public B shuffle(boolean shuffle) {
        settings.shuffle(shuffle);
        return self();
    }
}
