package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import io.peft4j.core.model.ActivationCheckpointing;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.ops.Scalars;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeSet;
import java.util.function.Supplier;

/**
 * The fine-tuning loop: batches the training data, computes the loss under a gradient collector,
 * clips, steps the optimiser, schedules the learning rate, evaluates, checkpoints and resumes.
 *
 * <pre>{@code
 * TrainingResult result = FineTuner.builder()
 *         .learningRate(2e-4).warmupSteps(100).schedule(LrSchedule.Kind.COSINE)
 *         .epochs(3).batchSize(8).gradientAccumulation(4)
 *         .checkpointDir(Path.of("runs/lora")).checkpointEvery(500)
 *         .build()
 *         .fit(peftModel, lossFunction, trainData);
 * }</pre>
 *
 * <p>Per optimiser step: the engine's random seed is set from (seed, step), so dropout masks are a
 * function of the step; {@code gradientAccumulation} micro-batches of {@code batchSize} examples
 * each run forward and backward with their loss scaled by {@code 1/gradientAccumulation}; the
 * global gradient norm is clipped; the optimiser updates the trainable parameters in place; their
 * gradients are zeroed. Everything allocated in the step lives in a sub-manager closed at its end
 * (the trainable arrays are temporarily attached to it, so intermediates that start from them stay
 * inside too). Only the model's trainable parameters get gradients; nothing is unfrozen.
 *
 * <p>The data order is a pure function of (seed, step) (see {@link TrainingData}), so {@link
 * #resume} continues the loss curve of the uninterrupted run exactly.
 *
 * <p>A FineTuner is an immutable configuration; each {@code fit} creates its own optimiser.
 */
public final class FineTuner {

    /** Learning rate, schedule, batch, accumulation, clipping, seed, shuffle. */
    private final StepSettings settings;

    private final LrSchedule customSchedule;
    private final double minLearningRateRatio;
    private final int epochs;
    private final long maxSteps;
    private final Supplier<? extends PeftOptimizer> optimizerFactory;
    private final long evalEvery;
    private final EvalCallback evalCallback;
    private final long checkpointEvery;
    private final Path checkpointDir;
    private final boolean progress;
    private final long progressEvery;
    private final Device device;
    private final boolean allowChangedSettings;

    private FineTuner(Builder b) {
        this.settings = b.stepSettings();
        this.customSchedule = b.customSchedule;
        this.minLearningRateRatio = b.minLearningRateRatio;
        this.epochs = b.epochs;
        this.maxSteps = b.maxSteps;
        this.optimizerFactory = b.optimizerFactory;
        this.evalEvery = b.evalEvery;
        this.evalCallback = b.evalCallback;
        this.checkpointEvery = b.checkpointEvery();
        this.checkpointDir = b.checkpointDir;
        this.progress = b.progress;
        this.progressEvery = b.progressEvery;
        this.device = b.device;
        this.allowChangedSettings = b.allowChangedSettings;
    }

    /**
     * Returns a builder. Defaults: learning rate 2e-4, linear decay without warmup, 1 epoch, batch
     * size 8, no gradient accumulation, gradient clipping at norm 1.0, seed 42, shuffling, AdamW,
     * no evaluation, no checkpoints, progress on, the device of the trainable parameters.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Trains the model's trainable parameters from scratch (from their current values, with a fresh
     * optimiser).
     *
     * @param model the model; its trainable parameters are updated in place
     * @param loss computes the loss of a batch
     * @param train the training data
     * @return the loss history and timings
     * @throws NonFiniteLossException if a step's loss (or clipped gradient norm) is NaN or
     *     infinite; the parameters then hold the values after the previous step
     * @throws UncheckedIOException if a checkpoint cannot be written
     */
    public TrainingResult fit(TrainableModel model, LossFunction loss, TrainingData train) {
        return run(model, loss, train, null);
    }

    /**
     * Continues training from a checkpoint: loads the trainable tensors into the model and the
     * optimiser state, then runs the remaining steps. With the same data, loss and seed, the loss
     * curve is that of the uninterrupted run.
     *
     * @param checkpointDir a step directory ({@code .../step-<n>}) or a checkpoint root, whose
     *     {@code latest} file names the step directory
     * @param model the model; its trainable parameters must match the checkpoint's by name, shape
     *     and data type
     * @param loss computes the loss of a batch
     * @param train the training data (same size as when the checkpoint was written)
     * @return the full loss history (the checkpoint's, then this run's) and timings
     * @throws IllegalArgumentException if the checkpoint does not fit the model or was written with
     *     a different seed, batch size, gradient accumulation, shuffling or data size
     */
    public TrainingResult resume(
            Path checkpointDir, TrainableModel model, LossFunction loss, TrainingData train) {
        return run(model, loss, train, Objects.requireNonNull(checkpointDir, "checkpointDir"));
    }

    private TrainingResult run(
            TrainableModel model, LossFunction lossFunction, TrainingData data, Path resumeFrom) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(lossFunction, "loss");
        Objects.requireNonNull(data, "train");
        io.peft4j.core.engine.MklCpuDispatch.adviseIfMissing();
        long startNanos = System.nanoTime();
        Map<String, Parameter> params = trainableParameters(model);
        NDArray first = params.values().iterator().next().getArray();
        Device trainDevice = device != null ? device : first.getDevice();
        params.forEach(
                (name, param) ->
                        checkArgument(
                                param.getArray().getDevice().equals(trainDevice),
                                "trainable parameter '%s' is on %s but training runs on %s; move"
                                        + " the model first",
                                name,
                                param.getArray().getDevice(),
                                trainDevice));
        Engine engine = first.getManager().getEngine();
        DataOrder order =
                new DataOrder(
                        data.size(),
                        settings.batchSize(),
                        settings.gradientAccumulation(),
                        settings.seed(),
                        settings.shuffle());
        long totalSteps = maxSteps > 0 ? maxSteps : epochs * order.stepsPerEpoch();
        LrSchedule schedule =
                customSchedule != null
                        ? customSchedule
                        : settings.scheduleKind()
                                .create(
                                        (float) settings.learningRate(),
                                        settings.warmupSteps(),
                                        totalSteps,
                                        (float) minLearningRateRatio);

        // Outside the gradient collector nothing is recorded (this thread may default to
        // recording).
        try (NoGrad noGrad = NoGrad.of(first);
                NDManager base = NDManager.newBaseManager(trainDevice, engine.getEngineName());
                PeftOptimizer optimizer =
                        Objects.requireNonNull(
                                optimizerFactory.get(), "the optimizer factory returned null")) {
            Checkpoints.Config config =
                    new Checkpoints.Config(
                            (float) settings.learningRate(),
                            schedule.toString(),
                            totalSteps,
                            settings.batchSize(),
                            settings.gradientAccumulation(),
                            (float) settings.maxGradNorm(),
                            settings.shuffle(),
                            data.size(),
                            optimizer.toString());
            Run run =
                    new Run(
                            model,
                            lossFunction,
                            data,
                            params,
                            engine,
                            base,
                            order,
                            optimizer,
                            config,
                            totalSteps);
            // Gradients left by code outside the trainer would be added to the first step's.
            Gradients.zero(params.values());
            if (resumeFrom != null) {
                run.restore(resumeFrom);
            }
            run.train(schedule);
            return new TrainingResult(
                    run.losses,
                    run.losses.size(),
                    (System.nanoTime() - startNanos) / 1e9,
                    run.startStep,
                    run.evaluations,
                    Optional.ofNullable(run.lastCheckpoint));
        }
    }

    /** Copies the model's trainable parameters, checking them and attaching their gradients. */
    private static Map<String, Parameter> trainableParameters(TrainableModel model) {
        Map<String, Parameter> declared = model.trainableParameters();
        checkArgument(
                declared != null && !declared.isEmpty(),
                "the model has no trainable parameters; nothing to train");
        Map<String, Parameter> params = new LinkedHashMap<>(declared);
        for (Map.Entry<String, Parameter> entry : params.entrySet()) {
            Parameter param = entry.getValue();
            checkArgument(
                    param != null && param.isInitialized(),
                    "trainable parameter '%s' is not initialised",
                    entry.getKey());
            // The trainer never unfreezes: a frozen parameter listed as trainable is a bug
            // upstream.
            checkArgument(
                    param.requiresGradient(),
                    "parameter '%s' is frozen but listed as trainable; the trainer does not"
                            + " unfreeze parameters",
                    entry.getKey());
            NDArray array = param.getArray();
            if (!array.hasGradient()) {
                array.setRequiresGradient(true);
            }
        }
        return Collections.unmodifiableMap(params);
    }

    /** Mixes (seed, step) into the engine seed of one step. */
    static int stepSeed(long seed, long step) {
        long z = seed + (step + 1) * 0x9E3779B97F4A7C15L; // SplitMix64 finaliser
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return (int) (z ^ (z >>> 32));
    }

    /** The mutable state of one fit or resume call. */
    private final class Run {
        final TrainableModel model;
        final LossFunction lossFunction;
        final TrainingData data;
        final Map<String, Parameter> params;
        final Engine engine;
        final NDManager base;
        final DataOrder order;
        final PeftOptimizer optimizer;
        final Checkpoints.Config config;
        final long totalSteps;
        final long examplesPerStep;

        final List<Float> losses = new ArrayList<>();
        final List<Evaluation> evaluations = new ArrayList<>();
        long startStep;
        Path lastCheckpoint;

        Run(
                TrainableModel model,
                LossFunction lossFunction,
                TrainingData data,
                Map<String, Parameter> params,
                Engine engine,
                NDManager base,
                DataOrder order,
                PeftOptimizer optimizer,
                Checkpoints.Config config,
                long totalSteps) {
            this.model = model;
            this.lossFunction = lossFunction;
            this.data = data;
            this.params = params;
            this.engine = engine;
            this.base = base;
            this.order = order;
            this.optimizer = optimizer;
            this.config = config;
            this.totalSteps = totalSteps;
            this.examplesPerStep = (long) settings.batchSize() * settings.gradientAccumulation();
        }

        void train(LrSchedule schedule) {
            ProgressBar bar = null;
            if (progress && startStep < totalSteps) {
                long every = progressEvery >= 0 ? progressEvery : Math.max(1, totalSteps / 10);
                bar = ProgressBar.builder().total(totalSteps).plainEvery(every).build();
                bar.start(startStep, startStep * examplesPerStep);
            }
            try {
                for (long step = startStep; step < totalSteps; step++) {
                    float lr = schedule.at(step);
                    float loss = trainStep(step, lr);
                    losses.add(loss);
                    long done = step + 1;
                    if (bar != null) {
                        bar.update(done, loss, lr, done * examplesPerStep);
                    }
                    boolean last = done == totalSteps;
                    if (evalCallback != null && (done % evalEvery == 0 || last)) {
                        evaluate(done);
                    }
                    if (checkpointDir != null
                            && ((checkpointEvery > 0 && done % checkpointEvery == 0) || last)) {
                        checkpoint(done);
                    }
                }
            } finally {
                if (bar != null) {
                    bar.finish();
                }
            }
        }

        /** Runs optimiser step {@code step} (0-based) and returns its mean loss. */
        private float trainStep(long step, float lr) {
            engine.setRandomSeed(stepSeed(settings.seed(), step));
            try (NDManager scope = base.newSubManager()) {
                StepScope.borrowParameters(params.values(), scope);
                try {
                    double lossSum = 0;
                    try (GradientCollector collector = engine.newGradientCollector()) {
                        for (int micro = 0; micro < settings.gradientAccumulation(); micro++) {
                            NDList batch = data.batch(scope, order.microBatch(step, micro));
                            // Intermediates attach to their first operand's manager: a batch sliced
                            // out of a long-lived array would pile every step's activations there.
                            // Borrowing the batch into the step's scope keeps them in the scope.
                            batch.tempAttach(scope);
                            NDArray loss = lossFunction.loss(batch, true);
                            checkState(
                                    loss != null && loss.size() == 1,
                                    "the loss function must return one value, got %s",
                                    loss == null ? "null" : "shape " + loss.getShape());
                            float value = scalar(loss);
                            if (!Float.isFinite(value)) {
                                // Checked before backward: a NaN graph has nothing worth computing.
                                throw new NonFiniteLossException(
                                        "loss", step + 1, value, value, lastCheckpoint);
                            }
                            lossSum += value;
                            // Scaled by 1/k so k accumulated micro-batches give the mean gradient.
                            collector.backward(
                                    settings.gradientAccumulation() == 1
                                            ? loss
                                            : Scalars.div(loss, settings.gradientAccumulation()));
                            // The layers below a checkpointed model's last one (a no-op otherwise).
                            ActivationCheckpointing.backwardPending();
                        }
                    }
                    // Finite micro-batch losses can still sum to infinity in float.
                    float stepLoss = (float) (lossSum / settings.gradientAccumulation());
                    if (!Float.isFinite(stepLoss)) {
                        throw new NonFiniteLossException(
                                "loss", step + 1, stepLoss, stepLoss, lastCheckpoint);
                    }
                    if (settings.maxGradNorm() > 0) {
                        float norm =
                                GradientClipping.clipGlobalNorm(
                                        params.values(), (float) settings.maxGradNorm());
                        if (!Float.isFinite(norm)) {
                            throw new NonFiniteLossException(
                                    "gradient norm", step + 1, norm, stepLoss, lastCheckpoint);
                        }
                    }
                    optimizer.step(params, lr);
                    return stepLoss;
                } finally {
                    ActivationCheckpointing.discardPending();
                    // Also on failure: a caller who catches and resumes must not inherit gradients.
                    Gradients.zero(params.values());
                }
            }
        }

        private float scalar(NDArray loss) {
            NDArray asFloat =
                    loss.getDataType() == DataType.FLOAT32
                            ? loss
                            : loss.toType(DataType.FLOAT32, false);
            return asFloat.toFloatArray()[0];
        }

        private void evaluate(long done) {
            try (NDManager scope = base.newSubManager()) {
                Map<String, Double> metrics = evalCallback.evaluate(done, model, scope);
                evaluations.add(new Evaluation(done, metrics == null ? Map.of() : metrics));
            }
        }

        private void checkpoint(long done) {
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            params.forEach((name, param) -> tensors.put(name, param.getArray()));
            Checkpoints.State state =
                    new Checkpoints.State(
                            Checkpoints.FORMAT,
                            done,
                            (double) done / order.stepsPerEpoch(),
                            settings.seed(),
                            done * examplesPerStep,
                            config,
                            new ArrayList<>(params.keySet()),
                            losses,
                            evaluations);
            try {
                lastCheckpoint =
                        Checkpoints.write(checkpointDir, state, tensors, optimizer.state());
            } catch (IOException e) {
                throw new UncheckedIOException(
                        "cannot write the checkpoint of step " + done + " into " + checkpointDir,
                        e);
            }
        }

        /** Loads a checkpoint into the model and the optimiser and positions the run after it. */
        void restore(Path resumeFrom) {
            try {
                Path stepDir = Checkpoints.resolve(resumeFrom);
                Checkpoints.State state = Checkpoints.readState(stepDir);
                checkCompatible(stepDir, state);
                try (NDManager scope = base.newSubManager()) {
                    Map<String, Shape> shapes = new LinkedHashMap<>();
                    long trainableValues = 0;
                    for (Map.Entry<String, Parameter> p : params.entrySet()) {
                        shapes.put(p.getKey(), p.getValue().getArray().getShape());
                        trainableValues += p.getValue().getArray().size();
                    }
                    loadParameters(stepDir, Checkpoints.readParams(scope, stepDir, shapes));
                    // Adam keeps two moments per trainable value (LIFT's fewer); four, plus room
                    // for
                    // step counters, bounds any optimiser's state before it is read.
                    long stateBudget =
                            Math.addExact(Math.multiplyExact(4L, trainableValues), 1L << 16);
                    optimizer.loadState(Checkpoints.readOptimizer(scope, stepDir, stateBudget));
                }
                startStep = state.step();
                losses.addAll(state.losses());
                if (state.evaluations() != null) {
                    evaluations.addAll(state.evaluations());
                }
                lastCheckpoint = stepDir;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the checkpoint in " + resumeFrom, e);
            }
        }

        private void checkCompatible(Path stepDir, Checkpoints.State state) {
            Checkpoints.Config saved = state.config();
            // These fix which examples each step sees; a change would silently train on another
            // stream than the one the checkpoint's history came from.
            requireSame(stepDir, "seed", state.seed(), settings.seed());
            requireSame(stepDir, "batch size", saved.batchSize(), settings.batchSize());
            requireSame(
                    stepDir,
                    "gradient accumulation",
                    saved.gradientAccumulation(),
                    settings.gradientAccumulation());
            requireSame(stepDir, "shuffle", saved.shuffle(), settings.shuffle());
            requireSame(stepDir, "training data size", saved.datasetSize(), data.size());
            checkArgument(
                    config.totalSteps() >= state.step(),
                    "checkpoint %s is at step %s, beyond this run's %s steps",
                    stepDir,
                    state.step(),
                    config.totalSteps());
            if (!allowChangedSettings) {
                // These do not change which examples a step sees, but a different value makes the
                // resumed run another run than the one whose history the checkpoint holds.
                requireSame(stepDir, "learning rate", saved.learningRate(), config.learningRate());
                requireSame(stepDir, "total steps", saved.totalSteps(), config.totalSteps());
                requireSame(stepDir, "learning-rate schedule", saved.schedule(), config.schedule());
                requireSame(
                        stepDir, "max gradient norm", saved.maxGradNorm(), config.maxGradNorm());
            }
            checkArgument(
                    new TreeSet<>(state.parameters()).equals(new TreeSet<>(params.keySet())),
                    "checkpoint %s holds parameters %s but the model trains %s",
                    stepDir,
                    state.parameters(),
                    params.keySet());
        }

        private void requireSame(Path stepDir, String what, Object saved, Object now) {
            checkArgument(
                    saved.equals(now),
                    "checkpoint %s was written with %s %s but this FineTuner uses %s; resuming"
                            + " would not continue the same run",
                    stepDir,
                    what,
                    saved,
                    now);
        }

        private void loadParameters(Path stepDir, Map<String, NDArray> saved) {
            for (Map.Entry<String, Parameter> entry : params.entrySet()) {
                String name = entry.getKey();
                NDArray target = entry.getValue().getArray();
                NDArray source = saved.get(name);
                checkArgument(source != null, "checkpoint %s has no tensor '%s'", stepDir, name);
                checkArgument(
                        source.getShape().equals(target.getShape())
                                && source.getDataType() == target.getDataType(),
                        "checkpoint %s: tensor '%s' is %s %s, the model's is %s %s",
                        stepDir,
                        name,
                        source.getDataType(),
                        source.getShape(),
                        target.getDataType(),
                        target.getShape());
                // Byte copy into the existing array: the model keeps its array (and gradient).
                target.set(source.toByteBuffer());
            }
        }
    }

    /**
     * Builds a {@link FineTuner}; every setter checks its argument. The step settings it shares
     * with peft-spark's distributed trainer come from {@link TrainerBuilder}.
     */
    public static final class Builder extends TrainerBuilder<Builder> {
        private LrSchedule customSchedule;
        private double minLearningRateRatio;
        private int epochs = 1;
        private long maxSteps;
        private Supplier<? extends PeftOptimizer> optimizerFactory = () -> AdamW.builder().build();
        private long evalEvery;
        private EvalCallback evalCallback;
        private Path checkpointDir;
        private boolean progress = true;
        private long progressEvery = -1;
        private Device device;
        private boolean allowChangedSettings;

        private Builder() {}

        /**
         * Sets the shape of the schedule after warmup (default LINEAR decay, as Hugging Face).
         *
         * @param kind CONSTANT, LINEAR or COSINE
         * @return this builder
         */
        @Override
        public Builder schedule(LrSchedule.Kind kind) {
            super.schedule(kind);
            this.customSchedule = null;
            return this;
        }

        /**
         * Sets every step setting from {@code from}, its schedule kind in place of a schedule of
         * its own.
         *
         * @param from the settings to take
         * @return this builder
         */
        @Override
        public Builder stepSettings(StepSettings from) {
            super.stepSettings(from);
            this.customSchedule = null;
            return this;
        }

        /**
         * Uses a schedule of its own, instead of learningRate/schedule kind/warmup.
         *
         * @param schedule the learning rate per 0-based step
         * @return this builder
         */
        public Builder schedule(LrSchedule schedule) {
            this.customSchedule = Objects.requireNonNull(schedule, "schedule");
            return this;
        }

        /**
         * Sets the floor of the decay as a fraction of the peak learning rate (default 0).
         *
         * @param ratio in [0, 1]
         * @return this builder
         */
        public Builder minLearningRateRatio(double ratio) {
            checkArgument(
                    ratio >= 0 && ratio <= 1,
                    "minLearningRateRatio must be in [0, 1], got %s",
                    ratio);
            this.minLearningRateRatio = ratio;
            return this;
        }

        /**
         * Sets the number of passes over the data (default 1); ignored when maxSteps is set.
         *
         * @param epochs at least 1
         * @return this builder
         */
        public Builder epochs(int epochs) {
            checkArgument(epochs >= 1, "epochs must be >= 1, got %s", epochs);
            this.epochs = epochs;
            return this;
        }

        /**
         * Sets the number of optimiser steps, overriding epochs (data wraps into further epochs).
         *
         * @param maxSteps at least 1
         * @return this builder
         */
        public Builder maxSteps(long maxSteps) {
            checkArgument(maxSteps >= 1, "maxSteps must be >= 1, got %s", maxSteps);
            this.maxSteps = maxSteps;
            return this;
        }

        /**
         * Sets how each run creates its optimiser (default: {@link AdamW} with its defaults). The
         * trainer closes what the factory returns at the end of the run.
         *
         * @param factory returns a new optimiser per call
         * @return this builder
         */
        public Builder optimizer(Supplier<? extends PeftOptimizer> factory) {
            this.optimizerFactory = Objects.requireNonNull(factory, "factory");
            return this;
        }

        /**
         * Evaluates every {@code every} steps and after the last step.
         *
         * @param every at least 1
         * @param callback the evaluation
         * @return this builder
         */
        public Builder evaluation(long every, EvalCallback callback) {
            checkArgument(every >= 1, "evaluation interval must be >= 1 step, got %s", every);
            this.evalEvery = every;
            this.evalCallback = Objects.requireNonNull(callback, "callback");
            return this;
        }

        /**
         * Sets where checkpoints go; with a directory and no interval, only the last step is saved.
         *
         * @param dir the checkpoint root (created if missing)
         * @return this builder
         */
        public Builder checkpointDir(Path dir) {
            this.checkpointDir = Objects.requireNonNull(dir, "dir");
            return this;
        }

        /**
         * Turns the console progress bar on or off (default on, on {@code System.err}).
         *
         * @param progress false for no output at all
         * @return this builder
         */
        public Builder progress(boolean progress) {
            this.progress = progress;
            return this;
        }

        /**
         * Sets how often a plain progress line is printed when the output is not a terminal
         * (default: every tenth of the run; 0: never). Terminals get a line redrawn in place.
         *
         * @param every steps between lines, >= 0
         * @return this builder
         */
        public Builder progressEvery(long every) {
            checkArgument(every >= 0, "progressEvery must be >= 0, got %s", every);
            this.progressEvery = every;
            return this;
        }

        /**
         * Lets {@link #resume} continue with another learning rate, schedule, step count or
         * clipping norm than the checkpoint was written with (by default that is refused, since the
         * result would not be the run the checkpoint's history belongs to). Settings that fix the
         * data order (seed, batch size, accumulation, shuffle, data size) must always match.
         *
         * @param allow whether to accept changed settings
         * @return this builder
         */
        public Builder allowChangedSettings(boolean allow) {
            this.allowChangedSettings = allow;
            return this;
        }

        /**
         * Sets the training device (default: that of the trainable parameters, which must all be on
         * it; the trainer does not move the model).
         *
         * @param device the device
         * @return this builder
         */
        public Builder device(Device device) {
            this.device = Objects.requireNonNull(device, "device");
            return this;
        }

        /**
         * Builds the configuration.
         *
         * @return the FineTuner
         */
        public FineTuner build() {
            checkArgument(
                    checkpointEvery() == 0 || checkpointDir != null,
                    "checkpointEvery(%s) needs a checkpointDir",
                    checkpointEvery());
            return new FineTuner(this);
        }
    }
}
