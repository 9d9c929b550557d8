package io.peft4j.core.train;

import static io.peft4j.core.train.TrainTestSupport.bytes;
import static io.peft4j.core.train.TrainTestSupport.liveArrays;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import io.peft4j.core.train.TrainTestSupport.LinearModel;
import io.peft4j.core.train.TrainTestSupport.RegressionData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FineTunerTest {

    private static final int IN = 6;
    private static final int OUT = 2;

    @TempDir Path tmp;

    private static RegressionData data(LinearModel model, int n) {
        return new RegressionData(n, IN, OUT, TrainTestSupport.biasOf(model), 1234);
    }

    private static FineTuner.Builder quiet() {
        return FineTuner.builder().progress(false);
    }

    private static float mean(List<Float> xs, int from, int to) {
        double sum = 0;
        for (int i = from; i < to; i++) {
            sum += xs.get(i);
        }
        return (float) (sum / (to - from));
    }

    @Test
    void lossFallsByHalfAndTheFrozenParameterStaysBitIdentical() {
        try (LinearModel model = new LinearModel(IN, OUT)) {
            byte[] frozenBefore = bytes(model.frozenBias.getArray());
            TrainingResult result =
                    quiet().learningRate(0.05)
                            .schedule(LrSchedule.Kind.COSINE)
                            .warmupSteps(5)
                            .batchSize(8)
                            .maxSteps(80)
                            .build()
                            .fit(model, model.mse(0f), data(model, 64));
            assertEquals(80, result.steps());
            assertEquals(80, result.losses().size());
            float first = mean(result.losses(), 0, 5);
            float last = mean(result.losses(), 75, 80);
            assertTrue(last <= 0.5f * first, "loss went from " + first + " to " + last);
            assertArrayEquals(frozenBefore, bytes(model.frozenBias.getArray()));
            assertFalse(model.frozenBias.getArray().hasGradient(), "the trainer unfroze the bias");
            try (NDArray grad = model.weight.getArray().getGradient()) {
                assertEquals(0f, grad.abs().sum().getFloat(), "gradients are zeroed after a step");
            }
        }
    }

    @Test
    void resumeFromAMidRunCheckpointReproducesTheUninterruptedCurve() {
        FineTuner tuner =
                quiet().learningRate(0.03)
                        .schedule(LrSchedule.Kind.COSINE)
                        .warmupSteps(3)
                        .batchSize(4)
                        .maxSteps(20)
                        .seed(99)
                        .checkpointDir(tmp.resolve("run"))
                        .checkpointEvery(10)
                        .build();
        List<Float> uninterrupted;
        byte[] finalWeights;
        try (LinearModel model = new LinearModel(IN, OUT)) {
            // Dropout in the loss: the resumed run only matches if each step's seed is restored.
            uninterrupted = tuner.fit(model, model.mse(0.3f), data(model, 40)).losses();
            finalWeights = bytes(model.weight.getArray());
        }
        try (LinearModel fresh = new LinearModel(IN, OUT)) {
            FineTuner resumer =
                    quiet().learningRate(0.03)
                            .schedule(LrSchedule.Kind.COSINE)
                            .warmupSteps(3)
                            .batchSize(4)
                            .maxSteps(20)
                            .seed(99)
                            .build();
            TrainingResult resumed =
                    resumer.resume(
                            tmp.resolve("run").resolve("step-10"),
                            fresh,
                            fresh.mse(0.3f),
                            data(fresh, 40));
            assertEquals(10, resumed.startStep());
            assertEquals(uninterrupted.size(), resumed.losses().size());
            for (int i = 0; i < uninterrupted.size(); i++) {
                assertEquals(
                        uninterrupted.get(i), resumed.losses().get(i), 1e-6f, "step " + (i + 1));
            }
            assertArrayEquals(finalWeights, bytes(fresh.weight.getArray()));
        }
    }

    private static List<Float> dropoutRun(long seed) {
        try (LinearModel model = new LinearModel(IN, OUT)) {
            return quiet().learningRate(0.05)
                    .maxSteps(4)
                    .seed(seed)
                    .batchSize(4)
                    .shuffle(false)
                    .build()
                    .fit(model, model.mse(0.5f), data(model, 40))
                    .losses();
        }
    }

    @Test
    void dropoutMasksAreAFunctionOfSeedAndStep() {
        // Guards the resume test: the data order is fixed here (no shuffling), so only dropout
        // differs between seeds. (The weight starts at 0, so dropout shows from step 2 on.)
        List<Float> first = dropoutRun(1);
        assertFalse(first.equals(dropoutRun(2)), "dropout did not depend on the seed: " + first);
        assertEquals(first, dropoutRun(1), "same seed, different dropout");
    }

    @Test
    void accumulatingKMicroBatchesEqualsOneBatchOfKTimesTheSize() {
        float[] big;
        List<Float> bigLosses;
        try (LinearModel model = new LinearModel(IN, OUT)) {
            bigLosses =
                    quiet().learningRate(0.02)
                            .batchSize(8)
                            .gradientAccumulation(1)
                            .maxSteps(12)
                            .build()
                            .fit(model, model.mse(0f), data(model, 64))
                            .losses();
            big = model.weight.getArray().toFloatArray();
        }
        try (LinearModel model = new LinearModel(IN, OUT)) {
            List<Float> accumulated =
                    quiet().learningRate(0.02)
                            .batchSize(2)
                            .gradientAccumulation(4)
                            .maxSteps(12)
                            .build()
                            .fit(model, model.mse(0f), data(model, 64))
                            .losses();
            assertArrayEquals(big, model.weight.getArray().toFloatArray(), 1e-5f);
            for (int i = 0; i < bigLosses.size(); i++) {
                assertEquals(bigLosses.get(i), accumulated.get(i), 1e-5f, "step " + (i + 1));
            }
        }
    }

    @Test
    void aNanLossStopsBeforeTheUpdateNamingTheStepAndTheLastCheckpoint() {
        byte[] afterTwoSteps;
        try (LinearModel model = new LinearModel(IN, OUT)) {
            quiet().learningRate(0.05)
                    .schedule(LrSchedule.Kind.CONSTANT)
                    .batchSize(4)
                    .maxSteps(2)
                    .build()
                    .fit(model, model.mse(0f), data(model, 40));
            afterTwoSteps = bytes(model.weight.getArray());
        }
        try (LinearModel model = new LinearModel(IN, OUT)) {
            AtomicInteger calls = new AtomicInteger();
            LossFunction mse = model.mse(0f);
            LossFunction poisoned =
                    (batch, training) -> {
                        NDArray loss = mse.loss(batch, training);
                        return calls.incrementAndGet() == 3 ? loss.mul(Float.NaN) : loss;
                    };
            Path dir = tmp.resolve("nan");
            FineTuner tuner =
                    quiet().learningRate(0.05)
                            .schedule(LrSchedule.Kind.CONSTANT)
                            .batchSize(4)
                            .maxSteps(10)
                            .checkpointDir(dir)
                            .checkpointEvery(2)
                            .build();
            NonFiniteLossException e =
                    assertThrows(
                            NonFiniteLossException.class,
                            () -> tuner.fit(model, poisoned, data(model, 40)));
            assertEquals(3, e.step());
            assertTrue(Float.isNaN(e.loss()));
            assertTrue(e.getMessage().contains("step 3"), e.getMessage());
            assertTrue(e.getMessage().contains(dir.resolve("step-2").toString()), e.getMessage());
            assertArrayEquals(afterTwoSteps, bytes(model.weight.getArray()), "update was applied");
            try (NDArray grad = model.weight.getArray().getGradient()) {
                assertEquals(0f, grad.abs().sum().getFloat(), "NaN gradients were left behind");
            }
        }
        try (LinearModel model = new LinearModel(IN, OUT)) {
            LossFunction mse = model.mse(0f);
            LossFunction alwaysInf =
                    (batch, training) -> mse.loss(batch, training).mul(Float.POSITIVE_INFINITY);
            NonFiniteLossException e =
                    assertThrows(
                            NonFiniteLossException.class,
                            () ->
                                    quiet().maxSteps(5)
                                            .batchSize(4)
                                            .build()
                                            .fit(model, alwaysInf, data(model, 40)));
            assertTrue(
                    e.getMessage().contains("step 1") && e.getMessage().contains("none"),
                    e.getMessage());
        }
    }

    @Test
    void aNonFiniteGradientNormStopsTheRunWhenClipping() {
        try (LinearModel model = new LinearModel(IN, OUT)) {
            LossFunction mse = model.mse(0f);
            // sqrt(|w|) at w = 0 is finite but its gradient is not.
            LossFunction kink =
                    (batch, training) ->
                            mse.loss(batch, training)
                                    .add(model.weight.getArray().abs().sqrt().sum());
            byte[] before = bytes(model.weight.getArray());
            NonFiniteLossException e =
                    assertThrows(
                            NonFiniteLossException.class,
                            () ->
                                    quiet().batchSize(4)
                                            .maxSteps(3)
                                            .maxGradNorm(1.0)
                                            .build()
                                            .fit(model, kink, data(model, 40)));
            assertTrue(
                    e.getMessage().contains("gradient norm") && e.getMessage().contains("step 1"),
                    e.getMessage());
            assertTrue(Float.isFinite(e.loss()));
            assertArrayEquals(before, bytes(model.weight.getArray()));
        }
    }

    @Test
    void tiedParametersSharingOneArraySurviveTheStepScope() {
        try (LinearModel model = new LinearModel(IN, OUT)) {
            TrainableModel tied =
                    () -> {
                        Map<String, Parameter> params = new java.util.LinkedHashMap<>();
                        params.put("weight", model.weight);
                        params.put("weight_alias", model.weight);
                        return params;
                    };
            quiet().batchSize(4)
                    .maxSteps(3)
                    .optimizer(
                            () ->
                                    new PeftOptimizer() {
                                        final AdamW adam = AdamW.builder().build();

                                        @Override
                                        public void step(Map<String, Parameter> params, float lr) {
                                            adam.step(Map.of("weight", params.get("weight")), lr);
                                        }

                                        @Override
                                        public Map<String, NDArray> state() {
                                            return adam.state();
                                        }

                                        @Override
                                        public void loadState(Map<String, NDArray> state) {
                                            adam.loadState(state);
                                        }

                                        @Override
                                        public long stateBytes() {
                                            return adam.stateBytes();
                                        }

                                        @Override
                                        public void close() {
                                            adam.close();
                                        }
                                    })
                    .build()
                    .fit(tied, model.mse(0f), data(model, 40));
            assertFalse(model.weight.getArray().isReleased());
            assertEquals(IN * OUT, model.weight.getArray().toFloatArray().length);
        }
    }

    @Test
    void liveArraysDoNotGrowWithTheStepCount() {
        try (LinearModel model = new LinearModel(IN, OUT)) {
            int before = liveArrays();
            List<Integer> counts = new ArrayList<>();
            EvalCallback count =
                    (step, m, manager) -> {
                        counts.add(liveArrays());
                        return Map.of();
                    };
            TrainingResult result =
                    quiet().learningRate(0.01)
                            .batchSize(4)
                            .gradientAccumulation(2)
                            .maxSteps(300)
                            .evaluation(50, count)
                            .build()
                            .fit(model, model.mse(0.1f), data(model, 64));
            assertEquals(300, result.steps());
            assertEquals(6, counts.size());
            for (int c : counts) {
                assertEquals(counts.get(0), c, "live arrays by eval step: " + counts);
            }
            assertEquals(before, liveArrays(), "arrays left over after fit");
        }
    }

    @Test
    void writesAtomicCheckpointsWithALatestPointerAndResumesFromTheRoot() throws IOException {
        Path dir = tmp.resolve("ckpt");
        try (LinearModel model = new LinearModel(IN, OUT)) {
            FineTuner tuner =
                    quiet().learningRate(0.01)
                            .batchSize(4)
                            .maxSteps(12)
                            .seed(5)
                            .checkpointDir(dir)
                            .checkpointEvery(5)
                            .evaluation(6, (step, m, manager) -> Map.of("eval_loss", 1.0 / step))
                            .build();
            TrainingResult result = tuner.fit(model, model.mse(0f), data(model, 40));
            assertEquals(dir.resolve("step-12"), result.lastCheckpoint().orElseThrow());
            assertEquals(
                    "step-12", Files.readString(dir.resolve("latest"), StandardCharsets.UTF_8));
            for (String step : List.of("step-5", "step-10", "step-12")) {
                for (String file :
                        List.of(
                                "trainer_state.json",
                                "trainable.safetensors",
                                "optimizer.safetensors")) {
                    assertTrue(
                            Files.isRegularFile(dir.resolve(step).resolve(file)),
                            step + "/" + file);
                }
            }
            String json = Files.readString(dir.resolve("step-10/trainer_state.json"));
            assertTrue(json.contains("\"step\": 10") && json.contains("\"seed\": 5"), json);

            // A second run (from the trained weights) into the same folder replaces the step
            // directories in place.
            TrainingResult second = tuner.fit(model, model.mse(0f), data(model, 40));
            try (Stream<Path> entries = Files.list(dir)) {
                List<String> names = entries.map(p -> p.getFileName().toString()).sorted().toList();
                assertEquals(List.of("latest", "step-10", "step-12", "step-5"), names);
            }

            // Resuming from the root follows 'latest'; the run is already complete.
            TrainingResult done = tuner.resume(dir, model, model.mse(0f), data(model, 40));
            assertEquals(12, done.steps());
            assertEquals(12, done.startStep());
            assertEquals(second.losses(), done.losses());
            assertEquals(
                    List.of(
                            new Evaluation(6, Map.of("eval_loss", 1.0 / 6)),
                            new Evaluation(12, Map.of("eval_loss", 1.0 / 12))),
                    done.evaluations());
        }
    }

    @Test
    void resumeRefusesACheckpointFromAnotherDataStream() {
        Path dir = tmp.resolve("other");
        try (LinearModel model = new LinearModel(IN, OUT)) {
            quiet().batchSize(4)
                    .maxSteps(4)
                    .seed(1)
                    .checkpointDir(dir)
                    .build()
                    .fit(model, model.mse(0f), data(model, 40));
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    quiet().batchSize(4)
                                            .maxSteps(8)
                                            .seed(2)
                                            .build()
                                            .resume(dir, model, model.mse(0f), data(model, 40)));
            assertTrue(
                    e.getMessage().contains("seed 1") && e.getMessage().contains("uses 2"),
                    e.getMessage());
            assertThrows(
                    IllegalArgumentException.class,
                    () ->
                            quiet().batchSize(2)
                                    .maxSteps(8)
                                    .seed(1)
                                    .build()
                                    .resume(dir, model, model.mse(0f), data(model, 40)));
            assertThrows(
                    IllegalArgumentException.class,
                    () ->
                            quiet().build()
                                    .resume(
                                            tmp.resolve("empty"),
                                            model,
                                            model.mse(0f),
                                            data(model, 40)));
        }
    }

    @Test
    void resumeRefusesCheckpointTensorsFromTheHeaderBeforeReadingThem() throws IOException {
        Path dir = tmp.resolve("damaged");
        try (LinearModel model = new LinearModel(IN, OUT)) {
            quiet().batchSize(4)
                    .maxSteps(4)
                    .seed(1)
                    .checkpointDir(dir)
                    .build()
                    .fit(model, model.mse(0f), data(model, 40));
            Path step =
                    dir.resolve(
                            Files.readString(dir.resolve("latest"), StandardCharsets.UTF_8).trim());
            // An optimiser file declaring 2^31 F32 values (8 GiB, a sparse file): refused by its
            // header, so the test's 2 GiB heap and the machine's memory never see those bytes.
            writeSparseSafetensors(step.resolve("optimizer.safetensors"), "m.huge", 1L << 31);
            IllegalArgumentException huge =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    quiet().batchSize(4)
                                            .maxSteps(4)
                                            .seed(1)
                                            .build()
                                            .resume(dir, model, model.mse(0f), data(model, 40)));
            // The header check's wording: loading first would have failed later, if at all, naming
            // the unknown state tensor instead of the budget.
            assertTrue(
                    huge.getMessage().contains("optimizer.safetensors")
                            && huge.getMessage().contains("m.huge")
                            && huge.getMessage().contains("holds more than"),
                    huge.getMessage());

            // A trainable tensor of another shape is named with both shapes.
            Path params = step.resolve("trainable.safetensors");
            String name;
            try (io.peft4j.core.io.SafetensorsFile st =
                    io.peft4j.core.io.SafetensorsFile.open(params)) {
                name = st.names().get(0);
            }
            writeSparseSafetensors(params, name, 7);
            IllegalArgumentException shape =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    quiet().batchSize(4)
                                            .maxSteps(4)
                                            .seed(1)
                                            .build()
                                            .resume(dir, model, model.mse(0f), data(model, 40)));
            assertTrue(
                    shape.getMessage().contains("trainable.safetensors")
                            && shape.getMessage().contains("'" + name + "' has shape (7)"),
                    shape.getMessage());
        }
    }

    /** One F32 tensor of {@code n} values, its data a hole (the file is sparse). */
    private static void writeSparseSafetensors(Path file, String name, long n) throws IOException {
        StringBuilder json =
                new StringBuilder(
                        "{\""
                                + name
                                + "\":{\"dtype\":\"F32\",\"shape\":["
                                + n
                                + "],\"data_offsets\":[0,"
                                + (4 * n)
                                + "]}}");
        while (json.length() % 8 != 0) {
            json.append(' ');
        }
        byte[] header = json.toString().getBytes(StandardCharsets.UTF_8);
        try (java.io.RandomAccessFile raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(0);
            raf.write(
                    java.nio.ByteBuffer.allocate(8)
                            .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                            .putLong(header.length)
                            .array());
            raf.write(header);
            raf.setLength(8 + header.length + 4 * n);
        }
    }

    @Test
    void aMethodsOwnOptimizerGetsTheScheduledRatesAndIsClosed() {
        List<Float> rates = new ArrayList<>();
        AtomicBoolean closed = new AtomicBoolean();
        @SuppressWarnings("UnnecessaryAsync") // written from the anonymous class below
        AtomicReference<AdamW> inner = new AtomicReference<>();
        PeftOptimizer recording =
                new PeftOptimizer() {
                    final AdamW adam = AdamW.builder().build();

                    {
                        inner.set(adam);
                    }

                    @Override
                    public void step(Map<String, Parameter> params, float learningRate) {
                        rates.add(learningRate);
                        adam.step(params, learningRate);
                    }

                    @Override
                    public Map<String, NDArray> state() {
                        return adam.state();
                    }

                    @Override
                    public void loadState(Map<String, NDArray> state) {
                        adam.loadState(state);
                    }

                    @Override
                    public long stateBytes() {
                        return adam.stateBytes();
                    }

                    @Override
                    public void close() {
                        closed.set(true);
                        adam.close();
                    }
                };
        try (LinearModel model = new LinearModel(IN, OUT)) {
            quiet().learningRate(0.1)
                    .schedule(LrSchedule.Kind.LINEAR)
                    .warmupSteps(4)
                    .batchSize(4)
                    .maxSteps(10)
                    .optimizer(() -> recording)
                    .build()
                    .fit(model, model.mse(0f), data(model, 40));
        }
        LrSchedule expected = LrSchedule.warmupLinear(0.1f, 4, 10, 0f);
        assertEquals(10, rates.size());
        for (int s = 0; s < 10; s++) {
            assertEquals(expected.at(s), rates.get(s), "step " + s);
        }
        assertTrue(closed.get(), "the trainer did not close its optimizer");
        assertEquals(0, inner.get().stateBytes());
    }

    @Test
    void evaluatesEveryNStepsAndAfterTheLast() {
        try (LinearModel model = new LinearModel(IN, OUT)) {
            TrainingResult result =
                    quiet().batchSize(4)
                            .maxSteps(12)
                            .evaluation(5, (step, m, manager) -> Map.of("step", (double) step))
                            .build()
                            .fit(model, model.mse(0f), data(model, 40));
            assertEquals(
                    List.of(5L, 10L, 12L),
                    result.evaluations().stream().map(Evaluation::step).toList());
            assertEquals(12.0, result.evaluations().get(2).metrics().get("step"));
        }
    }

    @Test
    void refusesAFrozenParameterListedAsTrainable() {
        try (LinearModel model = new LinearModel(IN, OUT)) {
            TrainableModel wrong = () -> Map.of("bias", model.frozenBias);
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    quiet().batchSize(4)
                                            .maxSteps(1)
                                            .build()
                                            .fit(wrong, model.mse(0f), data(model, 40)));
            assertTrue(e.getMessage().contains("'bias'"), e.getMessage());
            assertFalse(model.frozenBias.getArray().hasGradient());
        }
    }

    @Test
    void trainsOnAThreadOtherThanTheOneThatStartedTheEngine() throws Exception {
        try (LinearModel model = new LinearModel(IN, OUT)) {
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread worker =
                    new Thread(
                            () -> {
                                try {
                                    quiet().batchSize(4)
                                            .maxSteps(3)
                                            .build()
                                            .fit(model, model.mse(0f), data(model, 40));
                                } catch (Throwable t) {
                                    failure.set(t);
                                }
                            });
            worker.start();
            worker.join();
            if (failure.get() != null) {
                throw new AssertionError("training on a second thread failed", failure.get());
            }
        }
    }
}
