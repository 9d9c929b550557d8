package io.peft4j.core.train;

import static io.peft4j.core.train.TrainTestSupport.bytes;
import static io.peft4j.core.train.TrainTestSupport.liveArrays;
import static io.peft4j.core.train.TrainTestSupport.setGradient;
import static io.peft4j.core.train.TrainTestSupport.trainable;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AdamWTest {

    /*
     * Reference numbers from torch.optim.AdamW (PyTorch 1.13.1, Debian's python3-torch, CPU,
     * float32, foreach=False), betas (0.8, 0.95), eps 1e-8, weight_decay 0.1, the learning rate
     * changed before each step. The script:
     *
     *   w1 = tensor(W1_0).reshape(2, 3); w2 = tensor(W2_0)
     *   opt = torch.optim.AdamW([w1, w2], lr=0.01, betas=(0.8, 0.95), eps=1e-8,
     *                           weight_decay=0.1, foreach=False)
     *   for t in range(5):
     *       for g in opt.param_groups: g['lr'] = LRS[t]
     *       w1.grad = tensor(G1[t]).reshape(2, 3); w2.grad = tensor(G2[t]); opt.step()
     *       print(w1, w2)
     */
    private static final float[] W1_0 = {0.5f, -1.25f, 2.0f, 0.0f, 3.5f, -0.75f};
    private static final float[] W2_0 = {1.0f, -2.0f, 0.125f, 4.0f};
    private static final float[] LRS = {0.01f, 0.02f, 0.005f, 0.01f, 0.03f};
    private static final float[][] G1 = {
        {
            -0.10000000149011612f,
            0.38177910447120667f,
            0.1577506810426712f,
            0.0f,
            -0.5417273044586182f,
            0.007559994235634804f
        },
        {
            0.5442177057266235f,
            0.8092974424362183f,
            -0.2577456831932068f,
            -1.0936909914016724f,
            -0.4738766551017761f,
            0.6936678886413574f
        },
        {
            1.3781745433807373f,
            0.5410698056221008f,
            -1.235203742980957f,
            -1.3484011888504028f,
            0.3673120439052582f,
            1.3984119892120361f
        },
        {
            1.6264187097549438f,
            -0.6110821962356567f,
            -2.099846601486206f,
            -0.658831000328064f,
            1.6008732318878174f,
            1.3687942028045654f
        },
        {
            0.7374703884124756f,
            -2.145692825317383f,
            -2.0319111347198486f,
            0.9121248126029968f,
            2.3733956813812256f,
            0.21113605797290802f
        },
    };
    private static final float[][] G2 = {
        {2.0f, 0.8648298978805542f, -1.6816062927246094f, -3.712216377258301f},
        {1.7631829977035522f, 1.6327476501464844f, -0.4900985658168793f, -2.998828172683716f},
        {1.0901200771331787f, 1.9850125312805176f, 0.6209068894386292f, -1.9698686599731445f},
        {0.08707326650619507f, 1.8660094738006592f, 1.4760068655014038f, -0.7877883911132812f},
        {-1.0875985622406006f, 1.2945265769958496f, 1.9401997327804565f, 0.36078837513923645f},
    };
    private static final float[][] EXPECTED_W1 = {
        {
            0.5095000267028809f,
            -1.2587499618530273f,
            1.9880000352859497f,
            0.0f,
            3.506500005722046f,
            -0.7592499852180481f
        },
        {
            0.4954533278942108f,
            -1.2756496667861938f,
            1.9908246994018555f,
            0.015515822917222977f,
            3.5193283557891846f,
            -0.7733817100524902f
        },
        {
            0.49111372232437134f,
            -1.2798593044281006f,
            1.9934839010238647f,
            0.01998475380241871f,
            3.519153118133545f,
            -0.7773580551147461f
        },
        {
            0.48153987526893616f,
            -1.281565546989441f,
            1.9999828338623047f,
            0.02879922464489937f,
            3.5107994079589844f,
            -0.7859644889831543f
        },
        {
            0.4533717632293701f,
            -1.2643018960952759f,
            2.0217320919036865f,
            0.03867541253566742f,
            3.478126287460327f,
            -0.8078926801681519f
        },
    };
    private static final float[][] EXPECTED_W2 = {
        {0.9890000224113464f, -2.008000135421753f, 0.13487499952316284f, 4.00600004196167f},
        {0.9671691656112671f, -2.023613214492798f, 0.1512516289949417f, 4.017694473266602f},
        {0.9619859457015991f, -2.027578353881836f, 0.1528243124485016f, 4.02036714553833f},
        {0.9535463452339172f, -2.035611152648926f, 0.15038487315177917f, 4.024541854858398f},
        {0.9413859844207764f, -2.058964252471924f, 0.13332977890968323f, 4.030559062957764f},
    };
    private static final float[] EXPECTED_EXP_AVG_W1 = {
        0.6316633224487305f,
        -0.3435073792934418f,
        -0.913934051990509f,
        -0.20757731795310974f,
        0.6849315166473389f,
        0.511881947517395f
    };
    private static final float[] EXPECTED_EXP_AVG_SQ_W1 = {
        0.25165459513664246f,
        0.2951613962650299f,
        0.4885873794555664f,
        0.19553986191749573f,
        0.4310494661331177f,
        0.20009897649288177f
    };

    private static AdamW referenceOptimizer() {
        return AdamW.builder().betas(0.8, 0.95).eps(1e-8).weightDecay(0.1).build();
    }

    @Test
    void matchesPyTorchAdamWStepByStep() {
        try (NDManager manager = NDManager.newBaseManager();
                AdamW adam = referenceOptimizer()) {
            Parameter w1 = trainable("w1", manager.create(W1_0, new Shape(2, 3)));
            Parameter w2 = trainable("w2", manager.create(W2_0));
            Map<String, Parameter> params = new LinkedHashMap<>();
            params.put("w1", w1);
            params.put("w2", w2);
            for (int t = 0; t < LRS.length; t++) {
                setGradient(w1, manager.create(G1[t], new Shape(2, 3)));
                setGradient(w2, manager.create(G2[t]));
                adam.step(params, LRS[t]);
                assertArrayEquals(
                        EXPECTED_W1[t], w1.getArray().toFloatArray(), 1e-6f, "w1 step " + t);
                assertArrayEquals(
                        EXPECTED_W2[t], w2.getArray().toFloatArray(), 1e-6f, "w2 step " + t);
            }
            Map<String, NDArray> state = adam.state();
            assertArrayEquals(EXPECTED_EXP_AVG_W1, state.get("w1/exp_avg").toFloatArray(), 1e-6f);
            assertArrayEquals(
                    EXPECTED_EXP_AVG_SQ_W1, state.get("w1/exp_avg_sq").toFloatArray(), 1e-6f);
            assertEquals(5L, state.get("w1/step").getLong());
        }
    }

    @Test
    void matchesThePublishedFormulaComputedInDoubles() {
        double beta1 = 0.9;
        double beta2 = 0.999;
        double eps = 1e-8;
        double decay = 0.05;
        float[] w0 = {0.3f, -0.7f, 1.1f, -2.4f};
        double[] w = new double[w0.length];
        double[] m = new double[w0.length];
        double[] v = new double[w0.length];
        for (int i = 0; i < w0.length; i++) {
            w[i] = w0[i];
        }
        try (NDManager manager = NDManager.newBaseManager();
                AdamW adam = AdamW.builder().weightDecay(decay).build()) {
            Parameter p = trainable("p", manager.create(w0));
            Map<String, Parameter> params = Map.of("p", p);
            for (int t = 1; t <= 20; t++) {
                float lr = 0.05f / t;
                float[] g = new float[w0.length];
                for (int i = 0; i < g.length; i++) {
                    g[i] = (float) (Math.cos(t * 0.37 + i) * (i % 2 == 0 ? 2 : -0.3));
                }
                setGradient(p, manager.create(g));
                adam.step(params, lr);
                for (int i = 0; i < w.length; i++) {
                    w[i] *= 1 - lr * decay;
                    m[i] = beta1 * m[i] + (1 - beta1) * g[i];
                    v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
                    double mHat = m[i] / (1 - Math.pow(beta1, t));
                    double vHat = v[i] / (1 - Math.pow(beta2, t));
                    w[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
                }
                float[] actual = p.getArray().toFloatArray();
                for (int i = 0; i < w.length; i++) {
                    assertEquals(w[i], actual[i], 1e-6, "step " + t + " element " + i);
                }
            }
        }
    }

    @Test
    void firstStepMovesEveryWeightByTheLearningRateAgainstItsGradientSign() {
        // With bias correction, step 1 has m^ = g and v^ = g^2, so the update is lr * sign(g).
        try (NDManager manager = NDManager.newBaseManager();
                AdamW adam = AdamW.builder().build()) {
            Parameter p = trainable("p", manager.create(new float[] {1f, 1f, 1f}));
            setGradient(p, manager.create(new float[] {0.5f, -50f, 7f}));
            adam.step(Map.of("p", p), 0.1f);
            assertArrayEquals(new float[] {0.9f, 1.1f, 0.9f}, p.getArray().toFloatArray(), 1e-6f);
        }
    }

    @Test
    void restoredStateContinuesBitForBit() {
        try (NDManager manager = NDManager.newBaseManager();
                AdamW first = referenceOptimizer();
                AdamW second = referenceOptimizer()) {
            Parameter w = trainable("w", manager.create(W1_0, new Shape(2, 3)));
            Map<String, Parameter> params = Map.of("w", w);
            for (int t = 0; t < 2; t++) {
                setGradient(w, manager.create(G1[t], new Shape(2, 3)));
                first.step(params, LRS[t]);
            }
            // Snapshot weights and state into arrays of our own, as a checkpoint would.
            float[] snapshotWeights = w.getArray().toFloatArray();
            Map<String, NDArray> snapshot = new LinkedHashMap<>();
            first.state()
                    .forEach(
                            (k, a) ->
                                    snapshot.put(
                                            k,
                                            manager.create(
                                                    a.toByteBuffer(),
                                                    a.getShape(),
                                                    a.getDataType())));

            for (int t = 2; t < 5; t++) {
                setGradient(w, manager.create(G1[t], new Shape(2, 3)));
                first.step(params, LRS[t]);
            }
            byte[] uninterrupted = bytes(w.getArray());

            w.getArray().set(manager.create(snapshotWeights, new Shape(2, 3)).toByteBuffer());
            second.loadState(snapshot);
            snapshot.values().forEach(NDArray::close); // loadState copied them
            for (int t = 2; t < 5; t++) {
                setGradient(w, manager.create(G1[t], new Shape(2, 3)));
                second.step(params, LRS[t]);
            }
            assertArrayEquals(uninterrupted, bytes(w.getArray()));
            assertEquals(5L, second.state().get("w/step").getLong());
        }
    }

    @Test
    void loadStateRejectsIncompleteOrMalformedState() {
        try (NDManager manager = NDManager.newBaseManager();
                AdamW adam = AdamW.builder().build()) {
            Map<String, NDArray> missingStep = new LinkedHashMap<>();
            missingStep.put("w/exp_avg", manager.zeros(new Shape(2)));
            missingStep.put("w/exp_avg_sq", manager.zeros(new Shape(2)));
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> adam.loadState(missingStep));
            assertTrue(e.getMessage().contains("'w'"), e.getMessage());

            Map<String, NDArray> noSlash = Map.of("exp_avg", manager.zeros(new Shape(2)));
            assertThrows(IllegalArgumentException.class, () -> adam.loadState(noSlash));
        }
    }

    @Test
    void stateShapeMismatchIsReportedWithTheParameterName() {
        try (NDManager manager = NDManager.newBaseManager();
                AdamW adam = AdamW.builder().build()) {
            Map<String, NDArray> state = new LinkedHashMap<>();
            state.put("w/exp_avg", manager.zeros(new Shape(3)));
            state.put("w/exp_avg_sq", manager.zeros(new Shape(3)));
            state.put("w/step", manager.create(4L));
            adam.loadState(state);
            Parameter w = trainable("w", manager.zeros(new Shape(2)));
            setGradient(w, manager.ones(new Shape(2)));
            IllegalStateException e =
                    assertThrows(
                            IllegalStateException.class, () -> adam.step(Map.of("w", w), 0.1f));
            assertTrue(
                    e.getMessage().contains("'w'") && e.getMessage().contains("(3)"),
                    e.getMessage());
        }
    }

    @Test
    void stateBytesCountsBothMomentsAndTheStepCounter() {
        try (NDManager manager = NDManager.newBaseManager();
                AdamW adam = AdamW.builder().build()) {
            Parameter a = trainable("a", manager.zeros(new Shape(3, 4)));
            Parameter b = trainable("b", manager.zeros(new Shape(5)));
            assertEquals(0, adam.stateBytes());
            setGradient(a, manager.ones(new Shape(3, 4)));
            setGradient(b, manager.ones(new Shape(5)));
            adam.step(Map.of("a", a, "b", b), 0.1f);
            assertEquals(2L * 4 * (12 + 5) + 2 * Long.BYTES, adam.stateBytes());
        }
    }

    @Test
    void stepsAllocateNothingThatOutlivesThem() {
        try (NDManager manager = NDManager.newBaseManager();
                AdamW adam = AdamW.builder().weightDecay(0.01).build()) {
            Parameter w = trainable("w", manager.zeros(new Shape(4, 4)));
            NDArray grad = manager.ones(new Shape(4, 4));
            Map<String, Parameter> params = Map.of("w", w);
            setGradient(w, grad);
            adam.step(params, 0.1f); // first step creates the moments
            int before = liveArrays();
            for (int i = 0; i < 50; i++) {
                adam.step(params, 0.1f);
            }
            assertEquals(before, liveArrays());
        }
    }

    /**
     * The update as it was before it ran in place chunk by chunk (whole arrays, a new array per
     * intermediate), kept here as the reference the current one must equal.
     */
    private static void wholeArrayUpdate(
            NDArray w,
            NDArray g,
            NDArray m,
            NDArray v,
            long step,
            float lr,
            double beta1,
            double beta2,
            double eps,
            double weightDecay) {
        if (weightDecay != 0) {
            w.muli(1 - lr * weightDecay);
        }
        m.muli(beta1).addi(g.mul(1 - beta1));
        v.muli(beta2).addi(g.square().muli(1 - beta2));
        double biasCorrection1 = 1 - Math.pow(beta1, (double) step);
        double biasCorrection2Sqrt = Math.sqrt(1 - Math.pow(beta2, (double) step));
        NDArray denom = v.sqrt().divi(biasCorrection2Sqrt).addi(eps);
        w.subi(m.div(denom).muli(lr / biasCorrection1));
    }

    @Test
    void chunkedInPlaceUpdateEqualsTheWholeArrayFormulaOverManySteps() {
        double beta1 = 0.85;
        double beta2 = 0.98;
        double eps = 1e-8;
        double decay = 0.05;
        // one parameter over several chunks (not a multiple of the chunk), one in a single chunk
        Shape big = new Shape(3, AdamW.CHUNK + 1234);
        Shape small = new Shape(7, 5);
        try (NDManager manager = NDManager.newBaseManager();
                AdamW adam =
                        AdamW.builder().betas(beta1, beta2).eps(eps).weightDecay(decay).build()) {
            manager.getEngine().setRandomSeed(3);
            Map<String, Parameter> params = new LinkedHashMap<>();
            params.put("big", trainable("big", manager.randomNormal(big)));
            params.put("small", trainable("small", manager.randomNormal(small)));
            Map<String, NDArray[]> reference = new LinkedHashMap<>(); // w, m, v
            Map<String, NDArray> initial = new LinkedHashMap<>();
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                NDArray w = e.getValue().getArray();
                reference.put(
                        e.getKey(),
                        new NDArray[] {
                            w.duplicate(), manager.zeros(w.getShape()), manager.zeros(w.getShape())
                        });
                initial.put(e.getKey(), w.duplicate());
            }
            int steps = 150;
            for (int t = 1; t <= steps; t++) {
                float lr = t % 3 == 0 ? 0.003f : 0.02f;
                for (Map.Entry<String, Parameter> e : params.entrySet()) {
                    try (NDManager scope = manager.newSubManager()) {
                        NDArray g =
                                scope.randomNormal(e.getValue().getArray().getShape())
                                        .muli(t % 7 == 0 ? 10 : 0.1);
                        setGradient(e.getValue(), g);
                        NDArray[] r = reference.get(e.getKey());
                        for (NDArray a : r) {
                            a.tempAttach(scope);
                        }
                        wholeArrayUpdate(r[0], g, r[1], r[2], t, lr, beta1, beta2, eps, decay);
                    }
                }
                adam.step(params, lr);
            }
            Map<String, NDArray> state = adam.state();
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                NDArray[] r = reference.get(e.getKey());
                String name = e.getKey();
                float wDiff = e.getValue().getArray().sub(r[0]).abs().max().getFloat();
                float mDiff = state.get(name + "/exp_avg").sub(r[1]).abs().max().getFloat();
                float vDiff = state.get(name + "/exp_avg_sq").sub(r[2]).abs().max().getFloat();
                assertTrue(
                        wDiff <= 1e-6,
                        name + ": weights differ from the whole-array update by " + wDiff);
                assertTrue(
                        mDiff <= 1e-6 && vDiff <= 1e-6,
                        name + ": moments differ by " + mDiff + ", " + vDiff);
                assertEquals(steps, state.get(name + "/step").toLongArray()[0]);
                // the weights moved: the comparison is not between two untouched copies
                float moved = e.getValue().getArray().sub(initial.get(name)).abs().max().getFloat();
                assertTrue(moved > 0.1, name + " moved only " + moved);
            }
            assertEquals(2 * (big.size() + small.size()) * 4 + 2 * Long.BYTES, adam.stateBytes());
        }
    }

    @Test
    void builderRejectsOutOfRangeHyperParameters() {
        assertThrows(IllegalArgumentException.class, () -> AdamW.builder().betas(1.0, 0.9));
        assertThrows(IllegalArgumentException.class, () -> AdamW.builder().betas(0.9, -0.1));
        assertThrows(IllegalArgumentException.class, () -> AdamW.builder().eps(0));
        assertThrows(IllegalArgumentException.class, () -> AdamW.builder().weightDecay(-1));
        try (AdamW adam = AdamW.builder().build()) {
            assertThrows(IllegalArgumentException.class, () -> adam.step(Map.of(), Float.NaN));
        }
    }
}
