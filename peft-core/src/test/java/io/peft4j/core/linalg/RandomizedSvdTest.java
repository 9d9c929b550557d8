package io.peft4j.core.linalg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.RandomMatrices_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.QRDecomposition;
import org.junit.jupiter.api.Test;

class RandomizedSvdTest {

    /** An m x k matrix with orthonormal columns: the Q of a random Gaussian matrix (EJML QR). */
    private static DMatrixRMaj orthonormal(int m, int k, Random random) {
        DMatrixRMaj g = RandomMatrices_DDRM.rectangleGaussian(m, k, 0, 1, random);
        QRDecomposition<DMatrixRMaj> qr = DecompositionFactory_DDRM.qr(m, k);
        assertTrue(qr.decompose(g));
        return qr.getQ(null, true);
    }

    /** A = U diag(s) V^T with random orthonormal U (m x r), V (n x r). */
    private static DMatrixRMaj withSpectrum(int m, int n, double[] s, long seed) {
        Random random = new Random(seed);
        DMatrixRMaj u = orthonormal(m, s.length, random);
        DMatrixRMaj v = orthonormal(n, s.length, random);
        DMatrixRMaj us = u.copy();
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < s.length; j++) {
                us.set(i, j, us.get(i, j) * s[j]);
            }
        }
        DMatrixRMaj a = new DMatrixRMaj(m, n);
        CommonOps_DDRM.multTransB(us, v, a);
        return a;
    }

    private static NDArray toArray(NDManager m, DMatrixRMaj a) {
        float[] f = new float[a.getNumElements()];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) a.getData()[i];
        }
        return m.create(f, new Shape(a.numRows, a.numCols));
    }

    @Test
    void recoversAKnownSpectrum() {
        // Slowly decaying tail below the top 6, so the sketch has to separate them.
        double[] spectrum = new double[40];
        double[] top = {20, 15, 10, 7, 5, 3};
        for (int i = 0; i < spectrum.length; i++) {
            spectrum[i] = i < top.length ? top[i] : 1.0 / (i - 4);
        }
        DMatrixRMaj a = withSpectrum(120, 80, spectrum, 1);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray matrix = toArray(m, a);
            try (RandomizedSvd.Result r = RandomizedSvd.compute(matrix, 6, 10, 2, 42)) {
                assertEquals(new Shape(120, 6), r.u().getShape());
                assertEquals(new Shape(6), r.s().getShape());
                assertEquals(new Shape(6, 80), r.vt().getShape());
                assertEquals(DataType.FLOAT32, r.u().getDataType());
                float[] s = r.s().toFloatArray();
                for (int i = 0; i < top.length; i++) {
                    assertEquals(top[i], s[i], 1e-3 * top[i], "singular value " + i);
                }
                assertOrthonormalColumns(r.u(), 1e-5);
                assertOrthonormalColumns(r.vt().transpose(), 1e-5);
                // u_i^T A v_i = s_i: the vectors belong to the values, not just span the space.
                float[] check =
                        r.u().transpose().matMul(matrix).matMul(r.vt().transpose()).toFloatArray();
                for (int i = 0; i < 6; i++) {
                    assertEquals(s[i], check[i * 6 + i], 1e-3 * s[i]);
                }
            }
        }
    }

    @Test
    void rankDeficientMatrixIsReconstructedExactly() {
        try (NDManager m = NDManager.newBaseManager()) {
            Random random = new Random(3);
            DMatrixRMaj x = RandomMatrices_DDRM.rectangleGaussian(64, 4, 0, 1, random);
            DMatrixRMaj y = RandomMatrices_DDRM.rectangleGaussian(4, 48, 0, 1, random);
            DMatrixRMaj a = new DMatrixRMaj(64, 48);
            CommonOps_DDRM.mult(x, y, a);
            NDArray matrix = toArray(m, a);
            double norm = matrix.norm().getFloat();
            // rank 4 exactly, and rank 7 (asking for 3 directions that do not exist)
            for (int rank : new int[] {4, 7}) {
                try (RandomizedSvd.Result r = RandomizedSvd.compute(matrix, rank, 5, 1, 11)) {
                    NDArray rebuilt = r.u().mul(r.s().reshape(1, rank)).matMul(r.vt());
                    double error = rebuilt.sub(matrix).norm().getFloat();
                    assertTrue(
                            error < 1e-5 * norm,
                            "rank " + rank + ": relative error " + error / norm);
                    float[] s = r.s().toFloatArray();
                    for (int i = 4; i < rank; i++) {
                        assertTrue(s[i] < 1e-4 * s[0], "spurious singular value " + s[i]);
                    }
                    assertOrthonormalColumns(r.u(), 1e-5);
                }
            }
        }
    }

    @Test
    void fullRankSketchIsAnExactSvdAndTheResultIsDeterministic() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray matrix = m.randomNormal(new Shape(10, 30)); // wide
            RandomizedSvd.Result a = RandomizedSvd.compute(matrix, 10, 0, 0, 5);
            RandomizedSvd.Result b = RandomizedSvd.compute(matrix, 10, 0, 0, 5);
            assertArrayEquals(a.s().toFloatArray(), b.s().toFloatArray());
            assertArrayEquals(a.vt().toFloatArray(), b.vt().toFloatArray());
            NDArray rebuilt = a.u().mul(a.s().reshape(1, 10)).matMul(a.vt());
            assertTrue(rebuilt.sub(matrix).abs().max().getFloat() < 1e-4);
            // Sign convention: each vt row's largest-magnitude entry is positive.
            for (int i = 0; i < 10; i++) {
                NDArray row = a.vt().get(i);
                assertTrue(row.max().getFloat() >= -row.min().getFloat(), "row " + i);
            }
        }
    }

    @Test
    void resultsLiveOnTheInputsManagerAndIntermediatesAreFreed() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray matrix = m.randomNormal(new Shape(50, 20)).toType(DataType.FLOAT64, false);
            int before = m.getManagedArrays().size();
            RandomizedSvd.Result r = RandomizedSvd.compute(matrix, 3, 4, 2, 1);
            assertEquals(before + 3, m.getManagedArrays().size());
            assertSame(m, matrix.getManager());
            assertSame(m, r.u().getManager());
            assertSame(m, r.s().getManager());
            assertSame(m, r.vt().getManager());
            r.close();
            assertTrue(r.u().isReleased() && r.s().isReleased() && r.vt().isReleased());
            assertEquals(DataType.FLOAT64, matrix.getDataType());
        }
    }

    @Test
    void rejectsBadArguments() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray matrix = m.ones(new Shape(6, 4));
            IllegalArgumentException rank =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> RandomizedSvd.compute(matrix, 5, 0, 0, 1));
            assertTrue(
                    rank.getMessage().contains("rank must be between 1 and min(m, n) = 4"),
                    rank.getMessage());
            assertTrue(rank.getMessage().contains("got 5"), rank.getMessage());
            assertThrows(
                    IllegalArgumentException.class,
                    () -> RandomizedSvd.compute(matrix, 0, 0, 0, 1));
            assertThrows(
                    IllegalArgumentException.class,
                    () -> RandomizedSvd.compute(matrix, 2, -1, 0, 1));
            assertThrows(
                    IllegalArgumentException.class,
                    () -> RandomizedSvd.compute(matrix, 2, 0, -1, 1));
            assertThrows(
                    IllegalArgumentException.class,
                    () -> RandomizedSvd.compute(m.ones(new Shape(4)), 1, 0, 0, 1));
            assertThrows(
                    IllegalArgumentException.class,
                    () ->
                            RandomizedSvd.compute(
                                    m.ones(new Shape(3, 3), DataType.INT32), 1, 0, 0, 1));
            NDArray withNan = m.create(new float[] {1, Float.NaN, 3, 4}, new Shape(2, 2));
            IllegalArgumentException nan =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> RandomizedSvd.compute(withNan, 1, 0, 0, 1));
            assertTrue(nan.getMessage().contains("non-finite"), nan.getMessage());
            assertSame(m, withNan.getManager());
        }
    }

    private static void assertOrthonormalColumns(NDArray q, double tolerance) {
        long k = q.getShape().get(1);
        NDArray gram = q.transpose().matMul(q);
        float[] g = gram.toFloatArray();
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                assertEquals(
                        i == j ? 1 : 0, g[(int) (i * k + j)], tolerance, "(" + i + ", " + j + ")");
            }
        }
    }
}
