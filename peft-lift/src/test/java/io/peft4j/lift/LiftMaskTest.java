package io.peft4j.lift;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.linalg.RandomizedSvd;
import io.peft4j.core.testing.ManagedTest;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Random;
import java.util.stream.IntStream;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;
import org.junit.jupiter.api.Test;

/** The mask: size, plain-magnitude limit, and the randomized SVD it is built on. */
class LiftMaskTest extends ManagedTest {

    @Test
    void maskHoldsExactlyKDistinctSortedIndicesPerMatrix() {
        Block base = TestModels.transformer(manager, 42);
        LiftConfig config = LiftConfig.builder().rank(1).filterRank(2).build();
        try (PeftModel peft = PeftModel.wrap(base, config)) {
            LiftAdapter adapter = (LiftAdapter) peft.adapter(PeftModel.DEFAULT_ADAPTER);
            assertEquals(
                    12,
                    adapter.paths().size(),
                    "all-linear must take the 12 projections and leave lm_head out");
            for (String path : adapter.paths()) {
                Shape s = adapter.weightShape(path);
                long k = Math.min((s.get(0) + s.get(1)), s.get(0) * s.get(1));
                long[] idx = adapter.maskIndices(path);
                assertEquals(k, idx.length, path);
                for (int i = 0; i < idx.length; i++) {
                    assertTrue(
                            idx[i] >= 0 && idx[i] < s.size(),
                            path + " index out of range: " + idx[i]);
                    assertTrue(
                            i == 0 || idx[i] > idx[i - 1],
                            path + " indices must be strictly increasing");
                }
            }
        }
    }

    @Test
    void densityBudgetRoundsAndClamps() {
        LiftConfig c = LiftConfig.builder().density(0.1).build();
        assertEquals(26, c.budget(16, 16)); // round(25.6)
        assertEquals(1, LiftConfig.builder().density(1e-9).build().budget(16, 16));
        assertEquals(256, LiftConfig.builder().rank(100).build().budget(16, 16));
        assertEquals(64, LiftConfig.builder().rank(2).build().budget(16, 16));
    }

    @Test
    void withRankAtLeastRankOfWTheMaskIsPlainMagnitudeTopK() {
        int m = 24;
        int n = 20;
        int rank = 3;
        Random random = new Random(5);
        float[] a = gaussian(random, m * rank);
        float[] b = gaussian(random, rank * n);
        NDArray w =
                manager.create(a, new Shape(m, rank)).matMul(manager.create(b, new Shape(rank, n)));
        float[] flat = w.toFloatArray();
        int k = 60;
        Integer[] order = IntStream.range(0, flat.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble(i -> -Math.abs(flat[i])));
        double gap = Math.abs(flat[order[k - 1]]) - Math.abs(flat[order[k]]);
        assertTrue(gap > 1e-4, "test matrix needs a clear k-th gap to be meaningful; gap " + gap);
        long[] expected =
                Arrays.stream(order, 0, k).mapToLong(Integer::longValue).sorted().toArray();

        long[] viaSvd =
                LiftMasks.select(w, k, 5, 8, 2, 1); // R = 5 >= rank(W) = 3, < min(m, n): SVD path
        assertArrayEquals(
                expected, viaSvd, "with R >= rank(W) the LIFT mask must be plain magnitude top-k");
        assertArrayEquals(expected, LiftMasks.select(w, k, 0, 8, 2, 1), "R = 0 is plain magnitude");

        // And the rank reduction matters when R < rank(W): the rank-1 mask is a different set.
        long[] rank1 = LiftMasks.select(w, k, 1, 8, 2, 1);
        assertEquals(k, rank1.length);
        assertNotEquals(
                Arrays.toString(expected),
                Arrays.toString(rank1),
                "rank-1 filtering must change the mask of a rank-3 matrix");
    }

    @Test
    void randomizedSvdTopSingularValuesAndFilteredScoreMatchEjml() {
        int m = 48;
        int n = 36;
        Random random = new Random(17);
        // A decaying spectrum: W = sum_i 0.7^i u_i v_i^T plus small noise.
        DMatrixRMaj dense = new DMatrixRMaj(m, n);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                dense.set(i, j, random.nextGaussian() * 0.01);
            }
        }
        for (int r = 0; r < 10; r++) {
            double scale = Math.pow(0.7, r) * 5;
            double[] u = random.doubles(m).map(x -> x - 0.5).toArray();
            double[] v = random.doubles(n).map(x -> x - 0.5).toArray();
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    dense.add(i, j, scale * u[i] * v[j]);
                }
            }
        }
        float[] values = new float[m * n];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) dense.data[i];
        }
        NDArray w = manager.create(values, new Shape(m, n));

        SingularValueDecomposition_F64<DMatrixRMaj> svd =
                DecompositionFactory_DDRM.svd(m, n, true, true, false);
        assertTrue(svd.decompose(dense.copy()));
        DMatrixRMaj u = svd.getU(null, false);
        DMatrixRMaj sMat = svd.getW(null);
        DMatrixRMaj vt = svd.getV(null, true);
        SingularOps_DDRM.descendingOrder(u, false, sMat, vt, true);

        int rank = 5;
        try (RandomizedSvd.Result r = RandomizedSvd.compute(w, rank, 8, 2, 3)) {
            float[] s = r.s().toFloatArray();
            for (int i = 0; i < rank; i++) {
                double ref = sMat.get(i, i);
                assertTrue(
                        Math.abs(s[i] - ref) <= 1e-3 * ref,
                        "singular value " + i + ": " + s[i] + " vs EJML " + ref);
            }
        }
        // LIFT's score |W_R| against the EJML rank-R reconstruction.
        DMatrixRMaj ur = CommonOps_DDRM.extract(u, 0, m, 0, rank);
        DMatrixRMaj sr = CommonOps_DDRM.extract(sMat, 0, rank, 0, rank);
        DMatrixRMaj vr = CommonOps_DDRM.extract(vt, 0, rank, 0, n);
        DMatrixRMaj tmp = new DMatrixRMaj(m, rank);
        CommonOps_DDRM.mult(ur, sr, tmp);
        DMatrixRMaj approx = new DMatrixRMaj(m, n);
        CommonOps_DDRM.mult(tmp, vr, approx);
        try (NDManager scratch = manager.newSubManager()) {
            float[] score = LiftMasks.score(w, rank, 8, 2, 3, scratch).toFloatArray();
            double max = 0;
            double worst = 0;
            for (int i = 0; i < score.length; i++) {
                max = Math.max(max, Math.abs(approx.data[i]));
                worst = Math.max(worst, Math.abs(score[i] - Math.abs(approx.data[i])));
            }
            assertTrue(
                    worst <= 1e-3 * max,
                    "rank-R score differs from EJML's reconstruction by "
                            + worst
                            + " (max "
                            + max
                            + ")");
        }
    }

    @Test
    void eachSelectionPicksTheRightEntriesOfAHandMadeMatrix() {
        // |W| row-major: 0.5 9 -3 0.1 / 7 -0.2 4 -8 / 2 6 -1 5 ; k = 4, plain magnitude (R = 0)
        NDArray w =
                manager.create(
                        new float[] {0.5f, 9, -3, 0.1f, 7, -0.2f, 4, -8, 2, 6, -1, 5},
                        new Shape(3, 4));
        assertArrayEquals(
                new long[] {1, 4, 7, 9}, // 9, 7, -8, 6
                LiftMasks.select(w, 4, 0, MaskSelection.LARGEST, 0, 8, 2, 1));
        assertArrayEquals(
                new long[] {0, 3, 5, 10}, // 0.5, 0.1, -0.2, -1
                LiftMasks.select(w, 4, 0, MaskSelection.SMALLEST, 0, 8, 2, 1));

        // Through a wrapped model: the adapter's mask is the config's end of |W'| (R >= rank: |W|).
        Block base = TestModels.mlp(manager, 7);
        for (MaskSelection selection : MaskSelection.values()) {
            LiftConfig config =
                    LiftConfig.builder()
                            .rank(1)
                            .filterRank(0)
                            .maskSelection(selection)
                            .targets("Linear_1")
                            .build();
            try (PeftModel peft = PeftModel.wrap(base, config)) {
                LiftAdapter adapter = (LiftAdapter) peft.adapter(PeftModel.DEFAULT_ADAPTER);
                String path = adapter.paths().get(0);
                float[] weight = adapter.effectiveWeight(path, manager).toFloatArray();
                long[] mask = adapter.maskIndices(path);
                boolean[] in = new boolean[weight.length];
                double insideMin = Double.MAX_VALUE;
                double insideMax = 0;
                for (long i : mask) {
                    in[(int) i] = true;
                    insideMin = Math.min(insideMin, Math.abs(weight[(int) i]));
                    insideMax = Math.max(insideMax, Math.abs(weight[(int) i]));
                }
                for (int i = 0; i < weight.length; i++) {
                    if (in[i]) {
                        continue;
                    }
                    double outside = Math.abs(weight[i]);
                    if (selection == MaskSelection.LARGEST) {
                        assertTrue(
                                outside <= insideMin,
                                selection
                                        + ": unselected |w| "
                                        + outside
                                        + " above the selected minimum "
                                        + insideMin);
                    } else {
                        assertTrue(
                                outside >= insideMax,
                                selection
                                        + ": unselected |w| "
                                        + outside
                                        + " below the selected maximum "
                                        + insideMax);
                    }
                }
            }
        }
    }

    @Test
    void exactAndRandomizedLowRankAgreeOnALowRankMatrix() {
        int m = 40;
        int n = 30;
        Random random = new Random(23);
        // rank 4 with well-separated singular values, so the rank-2 approximation is well defined
        NDArray w = manager.zeros(new Shape(m, n));
        float[] scales = {8, 4, 2, 1};
        for (float scale : scales) {
            NDArray u = manager.create(gaussian(random, m), new Shape(m, 1));
            NDArray v = manager.create(gaussian(random, n), new Shape(1, n));
            w = w.add(u.matMul(v).mul(scale));
        }
        int rank = 2;
        float[] exact = io.peft4j.core.linalg.ExactLowRank.approximate(w, rank).toFloatArray();
        float[] randomized;
        try (RandomizedSvd.Result r = RandomizedSvd.compute(w, rank, 8, 2, 3)) {
            randomized = r.u().mul(r.s().reshape(1, rank)).matMul(r.vt()).toFloatArray();
        }
        double max = 0;
        double worst = 0;
        for (int i = 0; i < exact.length; i++) {
            max = Math.max(max, Math.abs(exact[i]));
            worst = Math.max(worst, Math.abs(exact[i] - randomized[i]));
        }
        assertTrue(
                worst <= 1e-4 * max,
                "exact and randomized rank-2 approximations differ by "
                        + worst
                        + " (max "
                        + max
                        + ")");
        // the approximation is not W itself (rank 4), so the filter is doing something
        float[] full = w.toFloatArray();
        double diff = 0;
        for (int i = 0; i < full.length; i++) {
            diff = Math.max(diff, Math.abs(full[i] - exact[i]));
        }
        assertTrue(
                diff > 1e-2 * max,
                "rank-2 approximation of a rank-4 matrix must differ from it; max diff " + diff);
        long k = 100;
        assertArrayEquals(
                LiftMasks.select(w, k, rank, MaskSelection.LARGEST, 1024, 8, 2, 3),
                LiftMasks.select(w, k, rank, MaskSelection.LARGEST, 0, 8, 2, 3),
                "exact and randomized masks");
    }

    @Test
    void carryMapsNewPositionsToOldOnes() {
        assertArrayEquals(
                new int[] {-1, 1, 2, -1},
                LiftMasks.carry(new long[] {1, 4, 7}, new long[] {2, 4, 7, 9}));
        assertArrayEquals(new int[] {}, LiftMasks.carry(new long[] {1}, new long[] {}));
    }

    private static float[] gaussian(Random random, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }
}
