package io.peft4j.lift;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import io.peft4j.core.tree.ModuleTree;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Training with the sparse Adam: what changes, what the optimiser holds, refreshes, dense limit.
 */
class LiftTrainingTest {

    private NDManager manager;

    @TempDir Path tmp;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
        Engine.getInstance().setRandomSeed(7);
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private NDList input() {
        return TestModels.input(TestModels.Kind.MLP, manager, 5);
    }

    /** One step of loss = mean(out^2) with the LIFT optimiser; gradients zeroed afterwards. */
    private void step(PeftModel peft, NDList x, LiftOptimizer opt, float lr) {
        try (NDManager sm = manager.newSubManager()) {
            NDList xs = new NDList(x.head().duplicate());
            xs.attach(sm);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(peft.forward(xs, true).head().square().mean());
            }
            Map<String, Parameter> params = peft.trainableParameters();
            opt.step(params, lr);
            for (Parameter p : params.values()) {
                try (NDArray g = p.getArray().getGradient()) {
                    g.subi(g);
                }
            }
        }
    }

    private static float[] eff(LiftAdapter a, String path, NDManager m) {
        return a.effectiveWeight(path, m).toFloatArray();
    }

    @Test
    void entriesOutsideTheMaskStayBitIdenticalWithinAnInterval() {
        Block base = TestModels.mlp(manager, 42);
        Map<String, byte[]> baseBytes = new LinkedHashMap<>();
        base.getParameters()
                .forEach(p -> baseBytes.put(p.getKey(), p.getValue().getArray().toByteArray()));
        NDList x = input();
        LiftConfig config =
                LiftConfig.builder()
                        .rank(1)
                        .filterRank(2)
                        .updateInterval(3)
                        .targets("Linear_1", "Linear_3")
                        .build();
        try (PeftModel peft = PeftModel.wrap(base, config);
                LiftOptimizer opt = LiftOptimizer.forModel(peft);
                NDManager m = manager.newSubManager()) {
            LiftAdapter a = (LiftAdapter) peft.adapter(PeftModel.DEFAULT_ADAPTER);
            int changedInMask = 0;
            for (int s = 0; s < 7; s++) {
                Map<String, float[]> before = new HashMap<>();
                Map<String, long[]> mask = new HashMap<>();
                for (String path : a.paths()) {
                    before.put(path, eff(a, path, m));
                    mask.put(path, a.maskIndices(path));
                }
                step(peft, x, opt, 0.05f);
                for (String path : a.paths()) {
                    float[] was = before.get(path);
                    float[] now = eff(a, path, m);
                    boolean[] in = new boolean[was.length];
                    for (long i : mask.get(path)) {
                        in[(int) i] = true;
                    }
                    for (int i = 0; i < was.length; i++) {
                        if (!in[i]) {
                            assertEquals(
                                    Float.floatToRawIntBits(was[i]),
                                    Float.floatToRawIntBits(now[i]),
                                    path
                                            + " entry "
                                            + i
                                            + " outside the mask changed in step "
                                            + (s + 1));
                        } else if (was[i] != now[i]) {
                            changedInMask++;
                        }
                    }
                }
            }
            assertTrue(changedInMask > 0, "no masked entry changed");
            assertEquals(2, a.refreshes(), "T = 3 over 7 steps: refreshes after steps 3 and 6");
            assertEquals(7, opt.steps());
        }
        base.getParameters()
                .forEach(
                        p ->
                                assertArrayEquals(
                                        baseBytes.get(p.getKey()),
                                        p.getValue().getArray().toByteArray(),
                                        "base tensor "
                                                + p.getKey()
                                                + " must be untouched after the adapter leaves"));
    }

    @Test
    void optimiserStateIsTwoKFloatsPerMatrix() {
        Block base = TestModels.transformer(manager, 42);
        LiftConfig config =
                LiftConfig.builder().rank(1).filterRank(2).targets("q_proj", "up_proj").build();
        NDList x = TestModels.input(TestModels.Kind.TRANSFORMER, manager, 5);
        try (PeftModel peft = PeftModel.wrap(base, config);
                LiftOptimizer opt = LiftOptimizer.forModel(peft)) {
            LiftAdapter a = (LiftAdapter) peft.adapter(PeftModel.DEFAULT_ADAPTER);
            try (NDManager sm = manager.newSubManager()) {
                NDList xs = new NDList(x.head().duplicate());
                xs.attach(sm);
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    gc.backward(peft.forward(xs, true).head().square().mean());
                }
                opt.step(peft.trainableParameters(), 1e-3f);
            }
            Map<String, NDArray> state = opt.state();
            long expectedBytes = 0;
            long denseBytes = 0;
            for (String path : a.paths()) {
                String key = LiftAdapter.PREFIX + path + LiftAdapter.VALUES;
                Shape s = a.weightShape(path);
                long k = Math.min(s.get(0) + s.get(1), s.size());
                assertEquals(new Shape(k), state.get(key + "/exp_avg").getShape(), key);
                assertEquals(new Shape(k), state.get(key + "/exp_avg_sq").getShape(), key);
                expectedBytes += 2 * k * 4 + 8;
                denseBytes += 2 * s.size() * 4 + 8;
            }
            assertEquals(4, a.paths().size());
            assertEquals(expectedBytes, opt.stateBytes());
            assertEquals(denseBytes, opt.denseAdamStateBytes());
            assertTrue(opt.stateBytes() < opt.denseAdamStateBytes());
            assertTrue(opt.memoryReport().contains("dense Adam"), opt.memoryReport());
        }
    }

    @Test
    void withKEqualToMnTheUpdateEqualsDenseAdam() {
        float lr = 0.01f;
        double b1 = 0.9;
        double b2 = 0.95;
        double eps = 1e-6;
        NDList x = input();
        // Reference: dense Adam (same formula, betas, eps, no decay) on Linear_1's whole weight.
        Block ref = TestModels.mlp(manager, 42);
        NDArray w =
                ModuleTree.of(ref)
                        .get("Linear_1")
                        .block()
                        .getDirectParameters()
                        .get("weight")
                        .getArray();
        w.setRequiresGradient(true);
        NDArray mom = manager.zeros(w.getShape());
        NDArray vel = manager.zeros(w.getShape());
        float[] initial = w.toFloatArray();
        for (int t = 1; t <= 5; t++) {
            try (NDManager sm = manager.newSubManager()) {
                NDList xs = new NDList(x.head().duplicate());
                xs.attach(sm);
                NDArray grad;
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    gc.backward(
                            ref.forward(new ParameterStore(sm, false), xs, true)
                                    .head()
                                    .square()
                                    .mean());
                }
                try (NoGrad off = NoGrad.of(w)) {
                    grad = w.getGradient();
                    grad.attach(sm);
                    mom.muli(b1).addi(grad.mul(1 - b1));
                    vel.muli(b2).addi(grad.square().muli(1 - b2));
                    double stepSize = lr * Math.sqrt(1 - Math.pow(b2, t)) / (1 - Math.pow(b1, t));
                    NDArray upd = mom.div(vel.sqrt().addi(eps)).muli(stepSize);
                    upd.attach(sm);
                    w.subi(upd);
                    grad.subi(grad);
                }
            }
        }
        float[] expected = w.toFloatArray();

        LiftConfig config =
                LiftConfig.builder()
                        .density(1.0)
                        .targets("Linear_1")
                        .betas(b1, b2)
                        .eps(eps)
                        .updateInterval(0)
                        .build();
        try (PeftModel peft = PeftModel.wrap(TestModels.mlp(manager, 42), config);
                LiftOptimizer opt = LiftOptimizer.forModel(peft);
                NDManager m = manager.newSubManager()) {
            LiftAdapter a = (LiftAdapter) peft.adapter(PeftModel.DEFAULT_ADAPTER);
            assertEquals(w.size(), a.trainableEntries());
            for (int t = 0; t < 5; t++) {
                step(peft, x, opt, lr);
            }
            float[] got = eff(a, "Linear_1", m);
            float worst = 0;
            float moved = 0;
            for (int i = 0; i < got.length; i++) {
                worst = Math.max(worst, Math.abs(got[i] - expected[i]));
                moved = Math.max(moved, Math.abs(expected[i] - initial[i]));
            }
            assertTrue(moved > 1e-3, "the reference must have moved; " + moved);
            assertTrue(worst <= 1e-6, "k = mn LIFT differs from dense Adam by " + worst);
        }
    }

    @Test
    void refreshKeepsFunctionCarriesOverlapMomentsAndZeroesNewOnes() throws Exception {
        NDList x = input();
        LiftConfig config =
                LiftConfig.builder()
                        .rank(1)
                        .filterRank(0)
                        .updateInterval(0)
                        .targets("Linear_1", "Linear_3")
                        .build();
        Path dir = tmp.resolve("refreshed");
        NDArray adapted;
        try (PeftModel peft = PeftModel.wrap(TestModels.mlp(manager, 42), config);
                LiftOptimizer opt = LiftOptimizer.forModel(peft);
                NDManager m = manager.newSubManager()) {
            LiftAdapter a = (LiftAdapter) peft.adapter(PeftModel.DEFAULT_ADAPTER);
            step(peft, x, opt, 0.05f);
            step(peft, x, opt, 0.05f);
            // Shrink Linear_1's trained entries so plain-magnitude selection must move the mask.
            String key = LiftAdapter.PREFIX + "Linear_1" + LiftAdapter.VALUES;
            NDArray values = a.parameters().get(key).getArray();
            try (NoGrad off = NoGrad.of(values)) {
                values.muli(1e-3f);
            }
            long[] oldMask = a.maskIndices("Linear_1");
            float[] oldM = opt.state().get(key + "/exp_avg").toFloatArray();
            float[] oldV = opt.state().get(key + "/exp_avg_sq").toFloatArray();
            float[] effBefore = eff(a, "Linear_1", m);
            NDArray outBefore = peft.forward(x).head().duplicate();

            opt.refreshNow();

            long[] newMask = a.maskIndices("Linear_1");
            assertEquals(oldMask.length, newMask.length, "k must not change on refresh");
            assertArrayEquals(
                    effBefore,
                    eff(a, "Linear_1", m),
                    "a refresh must not change the effective weight");
            assertEquals(
                    0f,
                    TestModels.maxAbsDiff(peft.forward(x).head(), outBefore),
                    "a refresh must not change outputs");
            float[] newM = opt.state().get(key + "/exp_avg").toFloatArray();
            float[] newV = opt.state().get(key + "/exp_avg_sq").toFloatArray();
            int[] carry = LiftMasks.carry(oldMask, newMask);
            int fresh = 0;
            int kept = 0;
            for (int i = 0; i < carry.length; i++) {
                if (carry[i] < 0) {
                    fresh++;
                    assertEquals(
                            0f,
                            newM[i],
                            "new entry " + newMask[i] + " must start with zero moments");
                    assertEquals(0f, newV[i]);
                } else {
                    kept++;
                    assertEquals(
                            oldM[carry[i]],
                            newM[i],
                            "kept entry " + newMask[i] + " must keep its first moment");
                    assertEquals(oldV[carry[i]], newV[i]);
                }
            }
            assertTrue(fresh > 0, "the mask should have moved");
            assertTrue(
                    a.frozenState()
                            .containsKey(
                                    LiftAdapter.PREFIX + "Linear_1" + LiftAdapter.FROZEN_INDICES),
                    "entries that left the mask keep their values in the frozen overlay; kept "
                            + kept);

            // Merge/unmerge with an overlay is exact, and the file round-trips.
            Parameter weight =
                    ((LiftLayer) ModuleTree.of(peft.baseModel()).get("Linear_1").block())
                            .baseWeight();
            byte[] w0 = weight.getArray().toByteArray();
            adapted = peft.forward(x).head().duplicate();
            peft.merge();
            assertTrue(TestModels.maxAbsDiff(peft.forward(x).head(), adapted) < 1e-5);
            peft.unmerge();
            assertArrayEquals(
                    w0,
                    weight.getArray().toByteArray(),
                    "unmerge must restore the base weight exactly");
            peft.save(dir);
        }
        try (PeftModel loaded = PeftModel.load(TestModels.mlp(manager, 42), dir)) {
            assertTrue(
                    TestModels.maxAbsDiff(loaded.forward(x).head(), adapted) <= 1e-6,
                    "a refreshed adapter must load to the same outputs");
        }
    }

    @Test
    void loadRefusesBadIndicesNamingTheKey() {
        LiftConfig config = LiftConfig.builder().rank(1).targets("Linear_1").build();
        try (PeftModel peft = PeftModel.wrap(TestModels.mlp(manager, 42), config)) {
            LiftAdapter a = (LiftAdapter) peft.adapter(PeftModel.DEFAULT_ADAPTER);
            String vKey = LiftAdapter.PREFIX + "Linear_1" + LiftAdapter.VALUES;
            String iKey = LiftAdapter.PREFIX + "Linear_1" + LiftAdapter.INDICES;
            long[] idx = a.maskIndices("Linear_1");
            long[] swapped = idx.clone();
            swapped[0] = idx[1];
            swapped[1] = idx[0];
            Map<String, NDArray> bad =
                    Map.of(
                            vKey,
                            manager.zeros(new Shape(idx.length)),
                            iKey,
                            manager.create(swapped));
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> a.load(bad));
            assertTrue(
                    e.getMessage().contains(iKey) && e.getMessage().contains("strictly increasing"),
                    e.getMessage());
            long[] outOfRange = idx.clone();
            outOfRange[idx.length - 1] = 128;
            Map<String, NDArray> bad2 =
                    Map.of(
                            vKey,
                            manager.zeros(new Shape(idx.length)),
                            iKey,
                            manager.create(outOfRange));
            e = assertThrows(IllegalArgumentException.class, () -> a.load(bad2));
            assertTrue(e.getMessage().contains("outside [0, 128)"), e.getMessage());
            assertArrayEquals(idx, a.maskIndices("Linear_1"), "a refused load must change nothing");
        }
    }

    @Test
    void fineTunerWithTheSparseOptimiserLearnsAndRefreshes() {
        Block teacher = TestModels.mlp(manager, 43);
        Random random = new Random(3);
        float[] xs = new float[64 * 8];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = (float) random.nextGaussian();
        }
        NDArray allX = manager.create(xs, new Shape(64, 8));
        NDArray allY =
                teacher.forward(new ParameterStore(manager, false), new NDList(allX), false)
                        .head()
                        .duplicate();
        TrainingData data =
                new TrainingData() {
                    @Override
                    public int size() {
                        return 64;
                    }

                    @Override
                    public NDList batch(NDManager m, int[] indices) {
                        NDArray idx = m.create(indices);
                        NDList b = new NDList(allX.get(idx), allY.get(idx));
                        b.attach(m);
                        return b;
                    }
                };
        LiftConfig config =
                LiftConfig.builder()
                        .rank(2)
                        .filterRank(2)
                        .updateInterval(5)
                        .targets("Linear_1", "Linear_3")
                        .build();
        try (PeftModel peft = PeftModel.wrap(TestModels.mlp(manager, 42), config)) {
            NDArray before = peft.forward(new NDList(allX)).head().duplicate();
            TrainingResult result =
                    FineTuner.builder()
                            .learningRate(0.02)
                            .schedule(io.peft4j.core.train.LrSchedule.Kind.CONSTANT)
                            .maxSteps(20)
                            .batchSize(16)
                            .progress(false)
                            .optimizer(() -> LiftOptimizer.forModel(peft))
                            .build()
                            .fit(
                                    peft,
                                    (batch, training) ->
                                            peft.forward(new NDList(batch.get(0)), training)
                                                    .head()
                                                    .sub(batch.get(1))
                                                    .square()
                                                    .mean(),
                                    data);
            List<Float> losses = result.losses();
            double firstFive =
                    losses.subList(0, 5).stream()
                            .mapToDouble(Float::doubleValue)
                            .average()
                            .orElseThrow();
            double lastFive =
                    losses.subList(15, 20).stream()
                            .mapToDouble(Float::doubleValue)
                            .average()
                            .orElseThrow();
            assertTrue(lastFive < 0.8 * firstFive, "LIFT should learn: " + losses);
            LiftAdapter a = (LiftAdapter) peft.adapter(PeftModel.DEFAULT_ADAPTER);
            assertEquals(4, a.refreshes());
            assertFalse(
                    TestModels.maxAbsDiff(peft.forward(new NDList(allX)).head(), before) < 1e-4);
        }
    }
}
