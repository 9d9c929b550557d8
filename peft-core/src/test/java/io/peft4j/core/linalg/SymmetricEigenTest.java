package io.peft4j.core.linalg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class SymmetricEigenTest {

    @Test
    void twoByTwoByHand() {
        // [[2,1],[1,2]]: eigenvalues 3 (vector (1,1)/sqrt2) and 1 (vector (1,-1)/sqrt2, sign fixed
        // so the largest-magnitude entry, the first on a tie, is positive).
        SymmetricEigen.Result r = SymmetricEigen.decompose(new double[][] {{2, 1}, {1, 2}});
        assertArrayEquals(new double[] {3, 1}, r.values(), 1e-12);
        double h = Math.sqrt(0.5);
        assertArrayEquals(new double[] {h, h}, r.vector(0), 1e-12);
        assertArrayEquals(new double[] {h, -h}, r.vector(1), 1e-12);
        assertEquals(r.vectors()[1][1], r.vector(1)[1]);
    }

    @Test
    void threeByThreeWithNegativeAndRepeatedEigenvalues() {
        // Block diagonal: [[4,0,0],[0,0,2],[0,2,0]] has eigenvalues 4, 2, -2.
        SymmetricEigen.Result r =
                SymmetricEigen.decompose(new double[][] {{4, 0, 0}, {0, 0, 2}, {0, 2, 0}});
        assertArrayEquals(new double[] {4, 2, -2}, r.values(), 1e-12);
        double h = Math.sqrt(0.5);
        assertArrayEquals(new double[] {1, 0, 0}, r.vector(0), 1e-12);
        assertArrayEquals(new double[] {0, h, h}, r.vector(1), 1e-12);
        assertArrayEquals(new double[] {0, h, -h}, r.vector(2), 1e-12);

        SymmetricEigen.Result identity =
                SymmetricEigen.decompose(new double[][] {{5, 0, 0}, {0, 5, 0}, {0, 0, 5}});
        assertArrayEquals(new double[] {5, 5, 5}, identity.values(), 1e-12);
        assertOrthonormal(identity.vectors());
    }

    @Test
    void randomSymmetricMatrixSatisfiesAvEqualsLambdaV() {
        int n = 12;
        Random random = new Random(7);
        double[][] a = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                a[i][j] = a[j][i] = random.nextGaussian();
            }
        }
        double[][] copy = new double[n][];
        for (int i = 0; i < n; i++) {
            copy[i] = a[i].clone();
        }
        SymmetricEigen.Result r = SymmetricEigen.decompose(a);
        for (int i = 0; i < n; i++) {
            assertArrayEquals(copy[i], a[i], "input must not be modified");
        }
        for (int j = 1; j < n; j++) {
            assertTrue(r.values()[j - 1] >= r.values()[j], "descending");
        }
        assertOrthonormal(r.vectors());
        for (int j = 0; j < n; j++) {
            double[] v = r.vector(j);
            for (int i = 0; i < n; i++) {
                double av = 0;
                for (int k = 0; k < n; k++) {
                    av += a[i][k] * v[k];
                }
                assertEquals(r.values()[j] * v[i], av, 1e-10);
            }
        }
    }

    @Test
    void tinyFloat32AsymmetryIsToleratedButRealAsymmetryIsNot() {
        SymmetricEigen.Result r = SymmetricEigen.decompose(new double[][] {{2, 1 + 1e-7}, {1, 2}});
        assertEquals(3, r.values()[0], 1e-6);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> SymmetricEigen.decompose(new double[][] {{2, 1.5}, {1, 2}}));
        assertTrue(
                e.getMessage().contains("not symmetric: (0, 1) = 1.5 but (1, 0) = 1.0"),
                e.getMessage());
    }

    @Test
    void rejectsBadInput() {
        assertThrows(IllegalArgumentException.class, () -> SymmetricEigen.decompose(null));
        assertThrows(
                IllegalArgumentException.class, () -> SymmetricEigen.decompose(new double[0][0]));
        IllegalArgumentException ragged =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> SymmetricEigen.decompose(new double[][] {{1, 2}, {2}}));
        assertTrue(
                ragged.getMessage().contains("row 1 has 1 entries, expected 2"),
                ragged.getMessage());
        IllegalArgumentException nan =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                SymmetricEigen.decompose(
                                        new double[][] {{1, Double.NaN}, {Double.NaN, 1}}));
        assertTrue(nan.getMessage().contains("entry (0, 1) is NaN"), nan.getMessage());
        assertArrayEquals(
                new double[] {-3}, SymmetricEigen.decompose(new double[][] {{-3}}).values());
    }

    private static void assertOrthonormal(double[][] v) {
        int n = v.length;
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                double dot = 0;
                for (int i = 0; i < n; i++) {
                    dot += v[i][a] * v[i][b];
                }
                assertEquals(a == b ? 1 : 0, dot, 1e-10, "columns " + a + ", " + b);
            }
        }
    }
}
