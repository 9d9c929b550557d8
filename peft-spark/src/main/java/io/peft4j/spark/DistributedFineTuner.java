package io.peft4j.spark;

import io.peft4j.core.io.AtomicFiles;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.train.NonFiniteLossException;
import io.peft4j.core.train.StepSettings;
import io.peft4j.core.train.TrainerBuilder;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.spark.SparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Function1;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * Data-parallel adapter training on Spark: one barrier task per partition of the DataFrame. Each
 * task loads the base model once, builds the same adapter, and runs peft-core's {@code FineTuner}
 * on its partition's rows; at every optimiser step the tasks exchange only the adapter gradients
 * ({@code BarrierTaskContext.allGather}), average them, clip the mean by its global norm and take
 * the same optimiser step, so the replicas stay identical (compared by a weight checksum every
 * {@code hashEvery} steps). Learning-rate schedule, gradient accumulation, checkpoints and exact
 * resume are FineTuner's.
 *
 * <pre>{@code
 * DistributedTrainingResult r = DistributedFineTuner.builder()
 *         .model(ModelSource.classifier("/shared/all-minilm-l6-v2", 2, 64, 42))
 *         .adapter(LoraConfig.builder().rank(8).targets("query", "value").modulesToSave(List.of("classifier")).build())
 *         .task(TrainingTask.classification("sentence", "label", 2))
 *         .learningRate(1e-3).steps(200).batchSize(16)
 *         .checkpointDir("/shared/runs/sst2-ckpt").checkpointEvery(50)
 *         .build()
 *         .fit(sst2.repartition(4), Path.of("runs/sst2-adapter"));
 * }</pre>
 *
 * <p>The SparkSession must set {@code spark.barrier.sync.timeout} (e.g. {@code 600s}): a worker
 * that hangs then fails the stage instead of blocking the others for Spark's default of a year.
 * Each partition is one worker, so the DataFrame needs at most as many partitions as the cluster
 * has task slots. A worker failure fails the stage; {@code fit} then reruns it up to {@code
 * maxRestarts} times, every worker resuming from the newest checkpoint all of them hold. Bad input
 * (too few rows in a partition, workers that see different models or adapter configurations) is
 * refused on every worker alike, and not retried.
 */
public final class DistributedFineTuner implements Serializable {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(DistributedFineTuner.class);

    /** The Spark setting that bounds each barrier wait. */
    public static final String BARRIER_TIMEOUT = "spark.barrier.sync.timeout";

    /** How each worker loads the base model. */
    private final ModelSource model;

    /** How each worker obtains the adapter configuration. */
    private final AdapterConfigSource adapter;

    /** Turns a partition's rows into training data and loss. */
    private final TrainingTask task;

    /** Creates each worker's optimiser. */
    private final OptimizerFactory optimizer;

    /**
     * Learning rate, schedule, warmup, per-worker batch and accumulation, clipping of the averaged
     * gradient, seed and shuffling: each worker's FineTuner takes them as they are.
     */
    private final StepSettings stepSettings;

    /** Optimiser steps every worker takes. */
    private final long steps;

    /** Shared folder for the workers' checkpoints, or {@code null} for none. */
    private final String checkpointDir;

    /** Steps between checkpoints; 0 when no checkpoint interval is set. */
    private final long checkpointEvery;

    /** Steps between replica weight comparisons. */
    private final int hashEvery;

    /** Reruns allowed after a worker failure. */
    private final int maxRestarts;

    /** How often, in milliseconds, a worker waiting in a collective checks for the reply. */
    private final int barrierPollMillis;

    private DistributedFineTuner(Builder b, StepSettings settings, long checkpointEvery) {
        this.model = b.model;
        this.adapter = b.adapter;
        this.task = b.task;
        this.optimizer = b.optimizer;
        this.stepSettings = settings;
        this.steps = b.steps;
        this.checkpointDir = b.checkpointDir;
        this.checkpointEvery = checkpointEvery;
        this.hashEvery = b.hashEvery;
        this.maxRestarts = b.maxRestarts;
        this.barrierPollMillis = b.barrierPollMillis;
    }

    /**
     * @return a builder; model, adapter, task and steps are required
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Trains on {@code data}, one worker per partition, and writes the adapter into {@code
     * adapterDir} on the driver (each file atomically).
     *
     * @param data the training rows, holding the task's columns
     * @param adapterDir where the adapter goes
     * @return losses, exchange sizes and timings
     * @throws IllegalArgumentException for bad settings or input, before or during the job
     * @throws IllegalStateException when the job failed and no restart was left
     */
    public DistributedTrainingResult fit(Dataset<Row> data, Path adapterDir) {
        Objects.requireNonNull(adapterDir, "adapterDir");
        SparkContext sc = data.sparkSession().sparkContext();
        if (!sc.getConf().contains(BARRIER_TIMEOUT)) {
            throw new IllegalArgumentException(
                    "set "
                            + BARRIER_TIMEOUT
                            + " (e.g. 600s) on the SparkSession:"
                            + " without it a worker that hangs blocks the others for Spark's default of 365 days");
        }
        Dataset<Row> selected =
                data.select(
                        task.columns().stream()
                                .map(data::col)
                                .toArray(org.apache.spark.sql.Column[]::new));
        int workers = selected.rdd().getNumPartitions();
        if (workers > sc.defaultParallelism()) {
            throw new IllegalArgumentException(
                    "the DataFrame has "
                            + workers
                            + " partitions but the cluster runs "
                            + sc.defaultParallelism()
                            + " tasks at once; a barrier stage needs one slot per partition:"
                            + " repartition to at most "
                            + sc.defaultParallelism());
        }
        WorkerRun run = new WorkerRun(this);
        @SuppressWarnings("unchecked")
        Function1<scala.collection.Iterator<Row>, scala.collection.Iterator<WorkerReport>> body =
                (Function1<scala.collection.Iterator<Row>, scala.collection.Iterator<WorkerReport>>
                                & Serializable)
                        rows ->
                                CollectionConverters.asScala(
                                        run.run(CollectionConverters.asJava(rows)));
        ClassTag<WorkerReport> tag = ClassTag$.MODULE$.apply(WorkerReport.class);
        int restarts = 0;
        List<WorkerReport> reports;
        while (true) {
            try {
                reports =
                        selected.rdd()
                                .barrier()
                                .mapPartitions(body, false, tag)
                                .toJavaRDD()
                                .collect();
                break;
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                if (rootMessage(e).startsWith("BarrierJobUnsupportedRDDChain")) {
                    throw new IllegalArgumentException(
                            "Spark runs no barrier stage over this DataFrame's lineage"
                                    + " (union, coalesce or limit before it): repartition(n) it first",
                            e);
                }
                if (isBadInput(e)) {
                    throw new IllegalArgumentException(rootMessage(e), e);
                }
                if (checkpointDir == null || restarts >= maxRestarts) {
                    throw new IllegalStateException(
                            "distributed training failed after "
                                    + restarts
                                    + " restart(s)"
                                    + (checkpointDir == null
                                            ? " (no checkpointDir, so no restart)"
                                            : "")
                                    + ": "
                                    + rootMessage(e),
                            e);
                }
                restarts++;
                LOG.warn(
                        "a worker failed ({}); restarting from the newest checkpoint in {} ({} of {})",
                        rootMessage(e),
                        checkpointDir,
                        restarts,
                        maxRestarts);
            }
        }
        return summarize(new ArrayList<>(reports), adapterDir, restarts);
    }

    private DistributedTrainingResult summarize(
            List<WorkerReport> reports, Path adapterDir, int restarts) {
        reports.sort(Comparator.comparingInt(WorkerReport::rank));
        WorkerReport first = reports.get(0);
        writeAdapter(first.adapterFiles(), adapterDir);
        int n = first.losses().length;
        List<Float> mean = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            double sum = 0;
            for (WorkerReport r : reports) {
                sum += r.losses()[i];
            }
            mean.add((float) (sum / reports.size()));
        }
        long ran = Math.max(1, n - first.startStep());
        double slowest = reports.stream().mapToDouble(WorkerReport::seconds).max().orElse(0);
        double exchange =
                reports.stream().mapToDouble(WorkerReport::exchangeSeconds).average().orElse(0);
        return new DistributedTrainingResult(
                adapterDir,
                reports.size(),
                n,
                first.startStep(),
                restarts,
                mean,
                first.trainableValues(),
                first.messageBytes(),
                slowest / ran,
                exchange / ran,
                first.hashChecks(),
                first.finalHash());
    }

    private static void writeAdapter(Map<String, byte[]> files, Path dir) {
        try {
            Files.createDirectories(dir);
            for (Map.Entry<String, byte[]> f : files.entrySet()) {
                Path target = dir.resolve(f.getKey());
                Files.createDirectories(target.getParent());
                AtomicFiles.write(target, out -> out.write(f.getValue()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the adapter into " + dir, e);
        }
    }

    /** Failures that a rerun would repeat: bad input and diverged replicas. */
    private static boolean isBadInput(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof IllegalArgumentException
                    || t instanceof ReplicaDivergenceException
                    || t instanceof NonFiniteLossException) {
                return true;
            }
        }
        String text = String.valueOf(e.getMessage());
        return text.contains(IllegalArgumentException.class.getName())
                || text.contains(ReplicaDivergenceException.class.getName())
                || text.contains(NonFiniteLossException.class.getName());
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName() + ": " + t.getMessage();
    }

    ModelSource model() {
        return model;
    }

    AdapterConfigSource adapter() {
        return adapter;
    }

    TrainingTask task() {
        return task;
    }

    OptimizerFactory optimizer() {
        return optimizer;
    }

    StepSettings stepSettings() {
        return stepSettings;
    }

    long steps() {
        return steps;
    }

    String checkpointDir() {
        return checkpointDir;
    }

    long checkpointEvery() {
        return checkpointEvery;
    }

    int hashEvery() {
        return hashEvery;
    }

    int barrierPollMillis() {
        return barrierPollMillis;
    }

    /**
     * Builds a {@link DistributedFineTuner}; every setter checks its argument. The step settings it
     * shares with {@code FineTuner} come from {@link TrainerBuilder}.
     */
    public static final class Builder extends TrainerBuilder<Builder> {
        private ModelSource model;
        private AdapterConfigSource adapter;
        private TrainingTask task;
        private OptimizerFactory optimizer = OptimizerFactory.adamW();
        private long steps;
        private String checkpointDir;
        private int hashEvery = 10;
        private int maxRestarts = 2;
        private int barrierPollMillis = 1;

        private Builder() {}

        /**
         * @param model how each executor loads the base model
         * @return this builder
         */
        public Builder model(ModelSource model) {
            this.model = Objects.requireNonNull(model, "model");
            return this;
        }

        /**
         * @param config the adapter, shipped to the workers as its JSON
         * @return this builder
         */
        public Builder adapter(AdapterConfig config) {
            this.adapter = AdapterConfigSource.of(config);
            return this;
        }

        /**
         * @param source how each worker obtains the adapter configuration
         * @return this builder
         */
        public Builder adapter(AdapterConfigSource source) {
            this.adapter = Objects.requireNonNull(source, "source");
            return this;
        }

        /**
         * @param task turns a partition's rows into data and loss
         * @return this builder
         */
        public Builder task(TrainingTask task) {
            this.task = Objects.requireNonNull(task, "task");
            return this;
        }

        /**
         * @param factory each worker's optimiser (default AdamW)
         * @return this builder
         */
        public Builder optimizer(OptimizerFactory factory) {
            this.optimizer = Objects.requireNonNull(factory, "factory");
            return this;
        }

        /**
         * @param steps optimiser steps, >= 1 (every worker takes the same number)
         * @return this builder
         */
        public Builder steps(long steps) {
            check(steps >= 1, "steps must be >= 1, got " + steps);
            this.steps = steps;
            return this;
        }

        /**
         * @param dir a folder every executor can write and read (shared storage); each worker keeps
         *     its checkpoints in {@code worker-<rank>-of-<workers>/step-<n>}
         * @return this builder
         */
        public Builder checkpointDir(String dir) {
            check(dir != null && !dir.isBlank(), "checkpointDir is empty");
            this.checkpointDir = dir;
            return this;
        }

        /**
         * @param every steps between replica weight comparisons, >= 1 (default 10)
         * @return this builder
         */
        public Builder hashEvery(int every) {
            check(every >= 1, "hashEvery must be >= 1, got " + every);
            this.hashEvery = every;
            return this;
        }

        /**
         * @param restarts reruns after a worker failure, >= 0 (default 2; needs a checkpointDir)
         * @return this builder
         */
        public Builder maxRestarts(int restarts) {
            check(restarts >= 0, "maxRestarts must be >= 0, got " + restarts);
            this.maxRestarts = restarts;
            return this;
        }

        /**
         * @param millis how often a worker waiting in a collective checks for the reply (default 1;
         *     0 keeps Spark's own poll of 1000 ms, see BarrierPoll)
         * @return this builder
         */
        public Builder barrierPollMillis(int millis) {
            check(millis >= 0, "barrierPollMillis must be >= 0, got " + millis);
            this.barrierPollMillis = millis;
            return this;
        }

        /**
         * @return the trainer
         */
        public DistributedFineTuner build() {
            check(model != null, "model is required");
            check(adapter != null, "adapter is required");
            check(task != null, "task is required");
            check(
                    steps >= 1,
                    "steps is required (every worker must take the same number of steps)");
            long warmupSteps = stepSettings().warmupSteps();
            check(
                    warmupSteps <= steps,
                    "warmupSteps (" + warmupSteps + ") must be <= steps (" + steps + ")");
            check(
                    checkpointEvery() == 0 || checkpointDir != null,
                    "checkpointEvery needs a checkpointDir");
            return new DistributedFineTuner(this, stepSettings(), checkpointEvery());
        }

        private static void check(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException(message);
            }
        }
    }
}
