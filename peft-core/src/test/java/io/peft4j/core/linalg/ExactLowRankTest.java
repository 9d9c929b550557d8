package io.peft4j.core.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;
import org.junit.jupiter.api.Test;

class ExactLowRankTest {

    /** EJML's dense SVD truncated to {@code rank}: the reference reconstruction. */
    private static DMatrixRMaj truncatedSvd(DMatrixRMaj a, int rank) {
        SingularValueDecomposition_F64<DMatrixRMaj> svd =
                DecompositionFactory_DDRM.svd(a.numRows, a.numCols, true, true, false);
        assertTrue(svd.decompose(a.copy()));
        DMatrixRMaj u = svd.getU(null, false);
        DMatrixRMaj w = svd.getW(null);
        DMatrixRMaj vt = svd.getV(null, true);
        SingularOps_DDRM.descendingOrder(u, false, w, vt, true);
        DMatrixRMaj us = new DMatrixRMaj(a.numRows, rank);
        CommonOps_DDRM.mult(
                CommonOps_DDRM.extract(u, 0, a.numRows, 0, rank),
                CommonOps_DDRM.extract(w, 0, rank, 0, rank),
                us);
        DMatrixRMaj out = new DMatrixRMaj(a.numRows, a.numCols);
        CommonOps_DDRM.mult(us, CommonOps_DDRM.extract(vt, 0, rank, 0, a.numCols), out);
        return out;
    }

    @Test
    void matchesTheTruncatedSvdForTallAndWideMatrices() {
        try (NDManager manager = NDManager.newBaseManager()) {
            for (int[] shape : new int[][] {{30, 20}, {20, 30}}) {
                DMatrixRMaj a =
                        RandomMatrices_DDRM.rectangleGaussian(
                                shape[0], shape[1], 0, 1, new Random(3));
                float[] values = new float[a.data.length];
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) a.data[i];
                }
                NDArray w = manager.create(values, new Shape(shape[0], shape[1]));
                for (int rank : new int[] {1, 5, Math.min(shape[0], shape[1])}) {
                    NDArray approx = ExactLowRank.approximate(w, rank);
                    assertEquals(DataType.FLOAT32, approx.getDataType());
                    assertEquals(w.getShape(), approx.getShape());
                    float[] got = approx.toFloatArray();
                    DMatrixRMaj ref = truncatedSvd(a, rank);
                    double worst = 0;
                    for (int i = 0; i < got.length; i++) {
                        worst = Math.max(worst, Math.abs(got[i] - ref.data[i]));
                    }
                    assertTrue(
                            worst < 1e-4,
                            "shape "
                                    + w.getShape()
                                    + " rank "
                                    + rank
                                    + ": differs from EJML's truncated SVD by "
                                    + worst);
                }
                assertTrue(
                        assertThrows(
                                        IllegalArgumentException.class,
                                        () -> ExactLowRank.approximate(w, 0))
                                .getMessage()
                                .contains("got 0"));
            }
        }
    }
}
