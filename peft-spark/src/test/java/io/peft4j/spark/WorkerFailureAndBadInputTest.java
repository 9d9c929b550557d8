package io.peft4j.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDList;
import io.peft4j.core.train.LossFunction;
import io.peft4j.lift.LiftConfig;
import io.peft4j.lift.LiftOptimizer;
import io.peft4j.lora.LoraConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A worker that dies mid-run, and inputs that must fail at once with a clear message. */
@Timeout(180)
class WorkerFailureAndBadInputTest {

    /** Set by the test; the flaky loss clears it when it fails (local mode: one JVM). */
    static final AtomicBoolean FAIL_ONCE = new AtomicBoolean();

    /** Classification whose loss throws on partition 1 at its 8th call, once. */
    static final class FlakyTask implements TrainingTask {
        private static final long serialVersionUID = 1L;
        private final TrainingTask inner = TrainingTask.classification("sentence", "label", 2);

        @Override
        public List<String> columns() {
            return inner.columns();
        }

        @Override
        public Prepared prepare(LoadedModel model, List<Row> rows) {
            Prepared p = inner.prepare(model, rows);
            int partition = TaskContext.getPartitionId();
            int[] calls = {0};
            LossFunction loss =
                    (NDList batch, boolean training) -> {
                        calls[0]++;
                        if (partition == 1 && calls[0] == 8 && FAIL_ONCE.getAndSet(false)) {
                            throw new RuntimeException("injected worker failure at step 8");
                        }
                        return p.loss().loss(batch, training);
                    };
            return new Prepared(p.data(), loss);
        }
    }

    static Dataset<Row> twoPartitions() {
        return LocalSpark.frame(DistributedFineTunerTest.interleaved(LocalSpark.sentences(32, 5)));
    }

    @Test
    void aFailedWorkerFailsTheStageAndTheJobResumesFromTheLastCheckpoint(@TempDir Path tmp)
            throws Exception {
        DistributedTrainingResult clean =
                DistributedFineTunerTest.trainer(4)
                        .steps(10)
                        .checkpointDir(tmp.resolve("ckpt-clean").toString())
                        .checkpointEvery(5)
                        .build()
                        .fit(twoPartitions(), tmp.resolve("clean"));
        FAIL_ONCE.set(true);
        DistributedTrainingResult resumed =
                DistributedFineTunerTest.trainer(4)
                        .steps(10)
                        .task(new FlakyTask())
                        .checkpointDir(tmp.resolve("ckpt").toString())
                        .checkpointEvery(5)
                        .build()
                        .fit(twoPartitions(), tmp.resolve("resumed"));

        assertTrue(!FAIL_ONCE.get(), "the injected failure did not fire");
        assertEquals(0, clean.restarts());
        assertEquals(1, resumed.restarts());
        assertEquals(5, resumed.startStep(), "resumed from the step-5 checkpoint of both workers");
        assertTrue(
                Files.isDirectory(tmp.resolve("ckpt").resolve("worker-1-of-2").resolve("step-10")));
        double diff =
                SavedAdapters.maxAbsDiff(
                        SavedAdapters.read(tmp.resolve("clean")),
                        SavedAdapters.read(tmp.resolve("resumed")));
        assertTrue(diff <= 1e-6, "resumed run differs from the uninterrupted one by " + diff);
        assertEquals(clean.meanLosses(), resumed.meanLosses());
    }

    @Test
    void liftTrainsWithItsOwnSparseOptimiserThroughTheSpi(@TempDir Path tmp) throws Exception {
        DistributedTrainingResult r =
                DistributedFineTunerTest.trainer(4)
                        .steps(6)
                        .hashEvery(2)
                        .adapter(LiftConfig.builder().rank(2).targets("query", "value").build())
                        .optimizer(LiftOptimizer::forModel)
                        .build()
                        .fit(twoPartitions(), tmp.resolve("lift"));
        assertEquals(6, r.steps());
        assertEquals(3, r.hashChecks(), "replicas compared after steps 2, 4 and at the end");
        Map<String, float[]> tensors = SavedAdapters.read(tmp.resolve("lift"));
        assertTrue(!tensors.isEmpty());
        double moved =
                tensors.values().stream()
                        .flatMapToDouble(
                                v -> {
                                    double[] d = new double[v.length];
                                    for (int i = 0; i < v.length; i++) {
                                        d[i] = Math.abs(v[i]);
                                    }
                                    return java.util.Arrays.stream(d);
                                })
                        .max()
                        .orElse(0);
        assertTrue(moved > 0, "LIFT's trained values stayed at zero");
    }

    @Test
    void anEmptyPartitionIsRefusedByName(@TempDir Path tmp) {
        // hash-partitioned on a constant: every row lands in one partition, the other is empty
        Dataset<Row> df =
                LocalSpark.session()
                        .createDataFrame(LocalSpark.sentences(16, 3), LocalSpark.SCHEMA)
                        .repartition(2, functions.lit(1));
        int empty = df.javaRDD().glom().collect().get(0).isEmpty() ? 0 : 1;
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                DistributedFineTunerTest.trainer(4)
                                        .build()
                                        .fit(df, tmp.resolve("out")));
        assertTrue(e.getMessage().contains("partition " + empty + " has 0 rows"), e.getMessage());
        assertTrue(!Files.exists(tmp.resolve("out")), "nothing written");
    }

    /** Partition 0 loads the tiny model from one folder, partition 1 from a copy elsewhere. */
    static final class PathPerPartition implements ModelSource {
        private static final long serialVersionUID = 1L;
        private final String[] dirs;

        PathPerPartition(String... dirs) {
            this.dirs = dirs;
        }

        private ModelSource mine() {
            return ModelSource.classifier(
                    dirs[TaskContext.getPartitionId() % dirs.length], 2, 0, 7);
        }

        @Override
        public String key() {
            return mine().key();
        }

        @Override
        public LoadedModel load(Device device) {
            return mine().load(device);
        }
    }

    @Test
    void executorsWithDifferentModelPathsAreRefused(@TempDir Path tmp) throws IOException {
        Path copy = tmp.resolve("copy");
        Files.createDirectories(copy);
        try (Stream<Path> files = Files.list(LocalSpark.tinyBert())) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, copy.resolve(f.getFileName()));
            }
        }
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                DistributedFineTunerTest.trainer(4)
                                        .model(
                                                new PathPerPartition(
                                                        LocalSpark.tinyBert().toString(),
                                                        copy.toString()))
                                        .build()
                                        .fit(twoPartitions(), tmp.resolve("out")));
        assertTrue(e.getMessage().contains("workers load different base models"), e.getMessage());
        assertTrue(e.getMessage().contains(copy.toString()), e.getMessage());
    }

    @Test
    void anAdapterConfigThatDiffersBetweenWorkersIsRefused(@TempDir Path tmp) {
        AdapterConfigSource rankPerPartition =
                () ->
                        LoraConfig.builder()
                                .rank(TaskContext.getPartitionId() == 0 ? 4 : 2)
                                .alpha(8)
                                .dropout(0f)
                                .targets("query", "value")
                                .build();
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                DistributedFineTunerTest.trainer(4)
                                        .adapter(rankPerPartition)
                                        .build()
                                        .fit(twoPartitions(), tmp.resolve("out")));
        assertTrue(
                e.getMessage().contains("adapter config of partition 1 differs"), e.getMessage());
    }

    @Test
    void morePartitionsThanTaskSlotsAreRefusedBeforeTheJob(@TempDir Path tmp) {
        Dataset<Row> three =
                LocalSpark.session()
                        .createDataFrame(
                                LocalSpark.context().parallelize(LocalSpark.sentences(24, 4), 3),
                                LocalSpark.SCHEMA);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                DistributedFineTunerTest.trainer(4)
                                        .build()
                                        .fit(three, tmp.resolve("out")));
        assertTrue(e.getMessage().contains("repartition to at most 2"), e.getMessage());
    }
}
