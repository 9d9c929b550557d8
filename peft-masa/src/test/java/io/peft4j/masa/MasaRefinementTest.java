package io.peft4j.masa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import io.peft4j.core.testing.ManagedTest;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The data-aware local refinement (output error on calibration activations) and MASA's config
 * refusals.
 */
class MasaRefinementTest extends ManagedTest {

    private static final int L = 6;
    private static final int H = StackModel.HIDDEN;

    /**
     * Inputs whose first 3 features are 5x, the rest 0.2x: output error and weight error disagree.
     */
    private List<NDList> anisotropic(long seed, int batches) {
        Random r = new Random(seed);
        List<NDList> out = new ArrayList<>();
        for (int b = 0; b < batches; b++) {
            float[] v = new float[4 * H];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (r.nextGaussian() * (i % H < 3 ? 5 : 0.2));
            }
            out.add(new NDList(manager.create(v, new Shape(4, H))));
        }
        return out;
    }

    private double outputError(Block a, Block b, List<NDList> inputs) {
        double sum = 0;
        for (NDList x : inputs) {
            NDArray ya = a.forward(new ParameterStore(manager, false), x, false).head();
            NDArray yb = b.forward(new ParameterStore(manager, false), x, false).head();
            sum += ya.sub(yb).square().sum().getFloat();
        }
        return sum;
    }

    @Test
    void refinementLowersTheOutputErrorOnCalibrationAndHeldOutInputs() {
        StackModel original = StackModel.create(manager, L, 3);
        List<NDList> calibration = anisotropic(1, 24);
        List<NDList> heldOut = anisotropic(2, 8);
        StackModel plain = StackModel.create(manager, L, 3);
        StackModel refined = StackModel.create(manager, L, 3);
        MasaCompressor.Builder b =
                MasaCompressor.builder().targets("q_proj", "v_proj", "o_proj").atoms(2);
        try (CompressedAttention pca = b.build().compress(plain, manager)) {
            pca.applyTo(plain);
            assertTrue(
                    pca.calibrationOutputError(pca.dictionaryKeys().get(0)) == null,
                    "no calibration, no output error");
        }
        NDArray before =
                refined.forward(new ParameterStore(manager, false), heldOut.get(0), false)
                        .head()
                        .duplicate();
        try (CompressedAttention ca =
                b.calibration(calibration).build().compress(refined, manager)) {
            // the model is back as it was after recording (no recorder left, same outputs)
            for (ModuleNode n : ModuleTree.of(refined).nodes()) {
                assertFalse(
                        n.block() instanceof ActivationRecorder, "recorder left at " + n.path());
            }
            NDArray again =
                    refined.forward(new ParameterStore(manager, false), heldOut.get(0), false)
                            .head();
            assertEquals(
                    0f,
                    again.sub(before).abs().max().getFloat(),
                    "compress must not change the model");
            for (String key : ca.dictionaryKeys()) {
                double[] e = ca.calibrationOutputError(key);
                assertNotNull(e, key);
                assertTrue(
                        e[1] <= e[0],
                        key
                                + ": refinement must not be worse than PCA on its own objective: "
                                + e[1]
                                + " vs "
                                + e[0]);
            }
            double[] q = ca.calibrationOutputError("layers.0-5.q_proj");
            assertTrue(
                    q[1] < 0.8 * q[0],
                    "q_proj output error must drop clearly: " + q[0] + " -> " + q[1]);
            ca.applyTo(refined);
        }
        double errPlain = outputError(original, plain, heldOut);
        double errRefined = outputError(original, refined, heldOut);
        assertTrue(
                errRefined < errPlain,
                "held-out model output error: refined " + errRefined + " vs plain PCA " + errPlain);
    }

    @Test
    void objectiveIsTheSummedOutputErrorAndCoefficientsAreOptimal() {
        Random r = new Random(9);
        int out = 5;
        int in = 4;
        int layers = 4;
        List<NDArray> w = new ArrayList<>();
        List<NDArray> x = new ArrayList<>();
        List<NDArray> grams = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            w.add(manager.create(gaussian(r, out * in, 1), new Shape(out, in)));
            NDArray xl =
                    manager.create(gaussian(r, 30 * in, 1), new Shape(30, in))
                            .mul(manager.create(new float[] {4, 1, 0.3f, 0.1f}));
            x.add(xl);
            NDArray x64 = xl.toType(DataType.FLOAT64, false);
            grams.add(x64.transpose().matMul(x64));
        }
        MatrixPca.Result pca = MatrixPca.fit(w, 2, manager);
        DataAwareRefinement.Result res =
                DataAwareRefinement.refine(w, grams, pca.atoms(), pca.coefficients(), 15, manager);
        double direct = 0;
        double directAfter = 0;
        for (int l = 0; l < layers; l++) {
            direct +=
                    x.get(l)
                            .matMul(w.get(l).sub(pca.reconstruct(l)).transpose())
                            .square()
                            .sum()
                            .getFloat();
            NDArray hat = MatrixPca.combine(res.atoms(), res.coefficients()[l]);
            directAfter += x.get(l).matMul(w.get(l).sub(hat).transpose()).square().sum().getFloat();
        }
        assertEquals(
                direct,
                res.objectiveBefore(),
                1e-3 * direct,
                "objective = sum_l ||X_l (W_l - W^_l)^T||^2 at the PCA start");
        assertEquals(directAfter, res.objectiveAfter(), 1e-3 * direct, "objective after");
        assertTrue(
                res.objectiveAfter() < 0.9 * res.objectiveBefore(),
                res.objectiveBefore() + " -> " + res.objectiveAfter());
        assertTrue(res.atomsRefined());
        // at the optimum a small move of any coefficient cannot lower the output error
        for (int l = 0; l < layers; l++) {
            for (int s = 0; s < 2; s++) {
                for (double step : new double[] {1e-3, -1e-3}) {
                    double[] c = res.coefficients()[l].clone();
                    c[s] += step;
                    NDArray hat = MatrixPca.combine(res.atoms(), c);
                    double moved =
                            x.get(l)
                                    .matMul(w.get(l).sub(hat).transpose())
                                    .square()
                                    .sum()
                                    .getFloat();
                    NDArray hat0 = MatrixPca.combine(res.atoms(), res.coefficients()[l]);
                    double at =
                            x.get(l)
                                    .matMul(w.get(l).sub(hat0).transpose())
                                    .square()
                                    .sum()
                                    .getFloat();
                    assertTrue(
                            moved >= at - 1e-3 * at,
                            "coefficient ("
                                    + l
                                    + ", "
                                    + s
                                    + ") is not optimal: "
                                    + at
                                    + " -> "
                                    + moved);
                }
            }
        }
    }

    @Test
    void badConfigsAreRefusedWithClearMessages() {
        StackModel model = StackModel.create(manager, L, 3);
        String empty =
                assertThrows(
                                IllegalArgumentException.class,
                                () -> MasaCompressor.builder().atoms(2).calibration(List.of()))
                        .getMessage();
        assertTrue(empty.contains("calibration data is empty"), empty);
        String emptyInput =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        MasaCompressor.builder()
                                                .atoms(2)
                                                .calibration(List.of(new NDList())))
                        .getMessage();
        assertTrue(emptyInput.contains("calibration input 0 is empty"), emptyInput);
        String zero =
                assertThrows(IllegalArgumentException.class, () -> MasaConfig.builder().atoms(0))
                        .getMessage();
        assertTrue(zero.contains("num_atoms (S) must be >= 1, got 0"), zero);
        String tooMany =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        MasaCompressor.builder()
                                                .targets("q_proj")
                                                .atoms(L + 1)
                                                .build()
                                                .compress(model, manager))
                        .getMessage();
        assertTrue(
                tooMany.contains("num_atoms " + (L + 1)) && tooMany.contains(L + " layer(s)"),
                tooMany);
        String groups =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        MasaCompressor.builder()
                                                .targets("q_proj")
                                                .atoms(1)
                                                .groups(4)
                                                .build()
                                                .compress(model, manager))
                        .getMessage();
        assertTrue(
                groups.contains("num_groups 4 does not divide the 6 layers")
                        && groups.contains("layers.*.q_proj"),
                groups);
        String adapterGroups =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        io.peft4j.core.PeftModel.wrap(
                                                StackModel.create(manager, L, 3),
                                                MasaConfig.builder()
                                                        .targets("q_proj")
                                                        .atoms(1)
                                                        .groups(4)
                                                        .build()))
                        .getMessage();
        assertTrue(adapterGroups.contains("does not divide"), adapterGroups);
        String iterations =
                assertThrows(
                                IllegalArgumentException.class,
                                () -> MasaCompressor.builder().refinementIterations(0))
                        .getMessage();
        assertTrue(iterations.contains("got 0"), iterations);
    }

    private static float[] gaussian(Random r, int n, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * std);
        }
        return v;
    }
}
