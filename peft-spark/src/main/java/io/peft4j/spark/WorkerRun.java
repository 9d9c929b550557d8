package io.peft4j.spark;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import io.peft4j.core.PeftModel;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.TrainingResult;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.sql.Row;

/**
 * The body of one barrier task: load the base once, build the adapter, agree with the other
 * workers, then run peft-core's FineTuner on this partition with the gradient exchange inside the
 * optimiser step.
 */
final class WorkerRun implements Serializable {

    private static final long serialVersionUID = 1L;
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");

    private final DistributedFineTuner settings;

    WorkerRun(DistributedFineTuner settings) {
        this.settings = settings;
    }

    Iterator<WorkerReport> run(Iterator<Row> input) {
        BarrierTaskContext context = BarrierTaskContext.get();
        int rank = context.partitionId();
        int workers = context.getTaskInfos().length;
        List<Row> rows = new ArrayList<>();
        input.forEachRemaining(rows::add);
        int rowsNeeded =
                settings.stepSettings().batchSize()
                        * settings.stepSettings().gradientAccumulation();
        Device device = Engine.getInstance().defaultDevice();

        // Native work of training tasks sharing a JVM runs one task at a time (see CollectorGate);
        // the gate is let go only while a task waits in a collective.
        CollectorGate.enter();
        try (LoadedModel loaded = settings.model().load(device)) {
            String baseHash = baseHash(loaded);
            AdapterConfig config = settings.adapter().config();
            try (PeftModel peft = PeftModel.wrap(loaded.block(), config)) {
                // A partition too small to train is reported, not prepared: every worker then
                // fails with the same message instead of one failing alone.
                TrainingTask.Prepared prepared =
                        rows.size() >= rowsNeeded ? settings.task().prepare(loaded, rows) : null;
                Map<String, Parameter> params = peft.trainableParameters();
                Path rankDir =
                        settings.checkpointDir() == null
                                ? null
                                : Path.of(settings.checkpointDir())
                                        .resolve("worker-" + rank + "-of-" + workers);
                ReplicaFingerprint mine =
                        new ReplicaFingerprint(
                                rank,
                                rows.size(),
                                settings.model().key(),
                                baseHash,
                                config.toJson().toString(),
                                shapes(params),
                                GradientCodec.hash(params),
                                checkpointSteps(rankDir));
                List<ReplicaFingerprint> all =
                        ReplicaFingerprint.parse(gather(context, mine.toMessage()));
                ReplicaFingerprint.check(all, rowsNeeded);
                long resumeStep = ReplicaFingerprint.commonCheckpointStep(all);

                AtomicReference<AllReduceOptimizer> optimizer = new AtomicReference<>();
                FineTuner.Builder b =
                        FineTuner.builder()
                                .stepSettings(settings.stepSettings())
                                .maxSteps(settings.steps())
                                .maxGradNorm(0) // clipped after averaging, in AllReduceOptimizer
                                .progress(false)
                                .optimizer(
                                        () -> {
                                            AllReduceOptimizer o =
                                                    new AllReduceOptimizer(
                                                            settings.optimizer().create(peft),
                                                            m -> gather(context, m),
                                                            rank,
                                                            settings.stepSettings().maxGradNorm(),
                                                            settings.hashEvery(),
                                                            resumeStep);
                                            optimizer.set(o);
                                            return o;
                                        });
                if (rankDir != null) {
                    b.checkpointDir(rankDir).checkpointEvery(settings.checkpointEvery());
                }
                FineTuner tuner = b.build();
                TrainingResult result =
                        resumeStep > 0
                                ? tuner.resume(
                                        rankDir.resolve("step-" + resumeStep),
                                        peft,
                                        prepared.loss(),
                                        prepared.data())
                                : tuner.fit(peft, prepared.loss(), prepared.data());
                String finalHash = optimizer.get().finish(params);
                Map<String, byte[]> files = rank == 0 ? adapterFiles(peft) : Map.of();
                float[] losses = new float[result.losses().size()];
                for (int i = 0; i < losses.length; i++) {
                    losses[i] = result.losses().get(i);
                }
                AllReduceOptimizer o = optimizer.get();
                return List.of(
                                new WorkerReport(
                                        rank,
                                        rows.size(),
                                        GradientCodec.count(params.values()),
                                        result.startStep(),
                                        losses,
                                        result.seconds(),
                                        o.exchangeSeconds(),
                                        o.exchanges(),
                                        o.messageBytes(),
                                        o.hashChecks(),
                                        finalHash,
                                        files))
                        .iterator();
            }
        } finally {
            CollectorGate.leave();
        }
    }

    /** A collective call with the gate let go, so tasks sharing this JVM can reach it too. */
    String[] gather(BarrierTaskContext context, String message) {
        CollectorGate.leave();
        try {
            return BarrierPoll.allGather(context, message, settings.barrierPollMillis());
        } finally {
            CollectorGate.enter();
        }
    }

    /**
     * A checksum of the base model's weights (names included): executors must hold the same model.
     */
    private static String baseHash(LoadedModel loaded) {
        CRC32C crc = new CRC32C();
        for (Pair<String, Parameter> p : loaded.block().getParameters()) {
            crc.update(p.getKey().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            if (p.getValue().isInitialized()) {
                crc.update(p.getValue().getArray().toByteBuffer());
            }
        }
        return Long.toHexString(crc.getValue());
    }

    private static String shapes(Map<String, Parameter> params) {
        StringBuilder s = new StringBuilder();
        params.forEach((name, p) -> s.append(name).append(p.getArray().getShape()).append(';'));
        return s.toString();
    }

    private static List<Long> checkpointSteps(Path rankDir) {
        List<Long> steps = new ArrayList<>();
        if (rankDir == null || !Files.isDirectory(rankDir)) {
            return steps;
        }
        try (Stream<Path> list = Files.list(rankDir)) {
            list.forEach(
                    p -> {
                        Matcher m = STEP_DIR.matcher(p.getFileName().toString());
                        if (m.matches() && Files.isRegularFile(p.resolve("trainer_state.json"))) {
                            steps.add(Long.parseLong(m.group(1)));
                        }
                    });
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list the checkpoints in " + rankDir, e);
        }
        return steps;
    }

    /** The adapter's files, written by PeftModel into a scratch folder and read back. */
    private static Map<String, byte[]> adapterFiles(PeftModel peft) {
        Path scratch = null;
        try {
            scratch = Files.createTempDirectory("peft-spark-adapter-");
            peft.save(scratch);
            Map<String, byte[]> files = new LinkedHashMap<>();
            Path root = scratch;
            try (Stream<Path> walk = Files.walk(root)) {
                for (Path p :
                        (Iterable<Path>) walk.filter(Files::isRegularFile).sorted()::iterator) {
                    files.put(root.relativize(p).toString(), Files.readAllBytes(p));
                }
            }
            return files;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot save the trained adapter", e);
        } finally {
            if (scratch != null) {
                try (Stream<Path> walk = Files.walk(scratch)) {
                    walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                } catch (IOException ignored) {
                    // scratch space; the OS temp cleaner takes what is left
                }
            }
        }
    }
}
