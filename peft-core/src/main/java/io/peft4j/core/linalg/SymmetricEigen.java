package io.peft4j.core.linalg;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Comparator;
import java.util.stream.IntStream;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.EigenDecomposition_F64;

/**
 * Eigen-decomposition of a small dense symmetric matrix on the JVM, in double precision (EJML's
 * symmetric QR algorithm underneath). Intended for the k x k problems of randomized methods, not
 * for matrices with thousands of rows.
 */
public final class SymmetricEigen {

    /**
     * Relative asymmetry tolerated, measured against the largest entry: a Gram matrix computed by a
     * float32 engine matmul is symmetric only up to rounding. Within it the matrix is symmetrised.
     */
    static final double SYMMETRY_TOLERANCE = 1e-5;

    private SymmetricEigen() {}

    /**
     * The eigenvalues and eigenvectors of a symmetric matrix A: {@code A = V diag(values) V^T}.
     *
     * @param values the eigenvalues, descending (largest, possibly positive, first)
     * @param vectors an n x n orthonormal matrix whose column {@code j} ({@code vectors[i][j]} for
     *     all i) is the eigenvector of {@code values[j]}; each column's largest-magnitude entry is
     *     positive, so results are reproducible
     */
    public record Result(double[] values, double[][] vectors) {

        /**
         * Returns eigenvector {@code j} as a new array.
         *
         * @param j index into {@link #values()}
         * @return column {@code j} of {@link #vectors()}
         */
        public double[] vector(int j) {
            double[] v = new double[vectors.length];
            for (int i = 0; i < v.length; i++) {
                v[i] = vectors[i][j];
            }
            return v;
        }
    }

    /**
     * Decomposes {@code symmetric}. The input is not modified.
     *
     * @param symmetric a square, finite matrix, symmetric within a relative {@code 1e-5} of its
     *     largest entry
     * @return eigenvalues descending and matching eigenvector columns
     * @throws IllegalArgumentException if the matrix is empty, ragged, not square, not finite or
     *     not symmetric
     * @throws IllegalStateException if the solver does not converge
     */
    public static Result decompose(double[][] symmetric) {
        checkArgument(symmetric != null, "matrix must not be null");
        int n = symmetric.length;
        checkArgument(n > 0, "matrix must have at least one row, got 0");
        double maxAbs = 0;
        for (int i = 0; i < n; i++) {
            double[] row = symmetric[i];
            checkArgument(row != null, "row %s is null", i);
            checkArgument(
                    row.length == n,
                    "matrix must be square: row %s has %s entries, expected %s",
                    i,
                    row.length,
                    n);
            for (int j = 0; j < n; j++) {
                checkArgument(
                        Double.isFinite(row[j]),
                        "entry (%s, %s) is %s, expected a finite number",
                        i,
                        j,
                        row[j]);
                maxAbs = Math.max(maxAbs, Math.abs(row[j]));
            }
        }
        DMatrixRMaj a = new DMatrixRMaj(n, n);
        double tolerance = SYMMETRY_TOLERANCE * maxAbs;
        for (int i = 0; i < n; i++) {
            for (int j = i; j < n; j++) {
                double x = symmetric[i][j];
                double y = symmetric[j][i];
                checkArgument(
                        Math.abs(x - y) <= tolerance,
                        "matrix is not symmetric: (%s, %s) = %s but (%s, %s) = %s",
                        i,
                        j,
                        x,
                        j,
                        i,
                        y);
                double mean = 0.5 * (x + y);
                a.unsafe_set(i, j, mean);
                a.unsafe_set(j, i, mean);
            }
        }
        EigenDecomposition_F64<DMatrixRMaj> eig = DecompositionFactory_DDRM.eig(n, true, true);
        if (!eig.decompose(a)) {
            throw new IllegalStateException(
                    "symmetric eigen-decomposition of a "
                            + n
                            + " x "
                            + n
                            + " matrix did not converge");
        }
        double[] raw = new double[n];
        for (int k = 0; k < n; k++) {
            raw[k] = eig.getEigenvalue(k).getReal();
        }
        Integer[] order =
                IntStream.range(0, n)
                        .boxed()
                        .sorted(Comparator.comparingDouble(k -> -raw[k]))
                        .toArray(Integer[]::new);
        double[] values = new double[n];
        double[][] vectors = new double[n][n];
        for (int j = 0; j < n; j++) {
            int k = order[j];
            values[j] = raw[k];
            DMatrixRMaj v = eig.getEigenVector(k);
            if (v == null) {
                throw new IllegalStateException(
                        "eigen solver returned no vector for eigenvalue " + raw[k]);
            }
            int argmax = 0;
            for (int i = 1; i < n; i++) {
                if (Math.abs(v.get(i, 0)) > Math.abs(v.get(argmax, 0))) {
                    argmax = i;
                }
            }
            double sign = v.get(argmax, 0) < 0 ? -1 : 1;
            double norm = 0;
            for (int i = 0; i < n; i++) {
                norm += v.get(i, 0) * v.get(i, 0);
            }
            // EJML's vectors are unit length already; dividing guards against drift.
            double scale = sign / Math.sqrt(norm);
            for (int i = 0; i < n; i++) {
                vectors[i][j] = v.get(i, 0) * scale;
            }
        }
        return new Result(values, vectors);
    }
}
