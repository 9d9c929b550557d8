package io.peft4j.masa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.peft4j.core.testing.ManagedTest;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Matrix PCA's algebra: exact at S = L, error = dropped eigenvalues, orthonormal atoms. */
class MasaPcaTest extends ManagedTest {

    /** L correlated (out, in) matrices: a shared part plus per-layer noise. */
    private List<NDArray> weights(int l, int out, int in, long seed) {
        Random r = new Random(seed);
        float[] common = new float[out * in];
        for (int i = 0; i < common.length; i++) {
            common[i] = (float) r.nextGaussian();
        }
        List<NDArray> ws = new ArrayList<>();
        for (int k = 0; k < l; k++) {
            float[] v = new float[out * in];
            for (int i = 0; i < v.length; i++) {
                v[i] = common[i] + (float) (0.4 * r.nextGaussian());
            }
            ws.add(manager.create(v, new Shape(out, in)));
        }
        return ws;
    }

    private static double sq(NDArray a) {
        return a.toType(DataType.FLOAT64, false).square().sum().getDouble();
    }

    @Test
    void withAsManyAtomsAsLayersEveryWeightIsReconstructed() {
        List<NDArray> ws = weights(6, 10, 7, 1);
        try (MatrixPca.Result pca = MatrixPca.fit(ws, 6, manager)) {
            for (int l = 0; l < 6; l++) {
                double rel = Math.sqrt(sq(ws.get(l).sub(pca.reconstruct(l))) / sq(ws.get(l)));
                assertTrue(rel < 1e-4, "layer " + l + " relative error " + rel);
            }
            assertEquals(0.0, pca.droppedEnergy());
        }
    }

    @Test
    void squaredErrorEqualsSumOfDroppedEigenvalues() {
        List<NDArray> ws = weights(6, 10, 7, 2);
        for (int s = 1; s < 6; s++) {
            try (MatrixPca.Result pca = MatrixPca.fit(ws, s, manager)) {
                double err = 0;
                for (int l = 0; l < 6; l++) {
                    err += sq(ws.get(l).sub(pca.reconstruct(l)));
                }
                double dropped = pca.droppedEnergy();
                assertTrue(dropped > 0);
                assertEquals(
                        dropped,
                        err,
                        1e-3 * dropped,
                        "S=" + s + ": squared error vs dropped eigenvalues");
                // and the eigenvalues sum to the total energy
                double total = 0;
                for (NDArray w : ws) {
                    total += sq(w);
                }
                double sum = 0;
                for (double e : pca.eigenvalues()) {
                    sum += e;
                }
                assertEquals(total, sum, 1e-6 * total);
            }
        }
    }

    @Test
    void atomsAreFrobeniusOrthonormal() {
        List<NDArray> ws = weights(5, 9, 11, 3);
        try (MatrixPca.Result pca = MatrixPca.fit(ws, 3, manager)) {
            NDArray flat = pca.atoms().reshape(3, -1);
            float[] gram = flat.matMul(flat.transpose()).toFloatArray();
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                    assertEquals(
                            i == j ? 1f : 0f, gram[i * 3 + j], 1e-5, "<D_" + i + ", D_" + j + ">");
                }
            }
            // coefficients are the projections <W_l, D_s>
            for (int l = 0; l < 5; l++) {
                for (int s = 0; s < 3; s++) {
                    double proj = ws.get(l).mul(pca.atoms().get(s)).sum().getFloat();
                    assertEquals(
                            proj, pca.coefficients()[l][s], 1e-4 * Math.max(1, Math.abs(proj)));
                }
            }
        }
    }

    @Test
    void isDeterministic() {
        List<NDArray> ws = weights(4, 6, 6, 4);
        try (MatrixPca.Result a = MatrixPca.fit(ws, 2, manager);
                MatrixPca.Result b = MatrixPca.fit(ws, 2, manager)) {
            assertEquals(0f, a.atoms().sub(b.atoms()).abs().max().getFloat());
        }
    }

    @Test
    void refusesBadInputsWithClearMessages() {
        List<NDArray> ws = weights(3, 4, 4, 5);
        IllegalArgumentException tooMany =
                assertThrows(IllegalArgumentException.class, () -> MatrixPca.fit(ws, 4, manager));
        assertTrue(
                tooMany.getMessage().contains("L = 3") && tooMany.getMessage().contains("4"),
                tooMany.getMessage());
        List<NDArray> mixed = new ArrayList<>(ws);
        mixed.add(manager.zeros(new Shape(4, 5)));
        IllegalArgumentException shape =
                assertThrows(
                        IllegalArgumentException.class, () -> MatrixPca.fit(mixed, 1, manager));
        assertTrue(shape.getMessage().contains("(4, 5)"), shape.getMessage());
        List<NDArray> same = List.of(ws.get(0), ws.get(0).duplicate());
        IllegalArgumentException rank =
                assertThrows(IllegalArgumentException.class, () -> MatrixPca.fit(same, 2, manager));
        assertTrue(rank.getMessage().contains("span only 1"), rank.getMessage());
    }
}
