package io.peft4j.core.linalg;

import static com.google.common.base.Preconditions.checkArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The best rank-{@code R} approximation {@code U_R S_R V_R^T} of a matrix (Eckart-Young), computed
 * exactly, without an SVD routine (DJL has none): the leading eigenvectors of the Gram matrix of
 * the smaller side give the projector onto the top-R singular subspace, and {@code W V_R V_R^T} (or
 * {@code U_R U_R^T W}) equals the truncated SVD reconstruction.
 *
 * <p>Division of labour: the Gram product and the two projections run on the engine in float64; the
 * symmetric eigen-decomposition of the {@code d x d} Gram matrix, {@code d = min(m, n)}, runs on
 * the JVM ({@link SymmetricEigen}, EJML) at {@code O(d^3)}. That last step bounds what is
 * affordable: callers choose a size threshold (LIFT: {@code d <= 512} by default) and use {@link
 * RandomizedSvd} above it. Squaring the matrix squares its condition number, which float64 absorbs
 * for the leading directions this is used for.
 */
public final class ExactLowRank {

    private ExactLowRank() {}

    /**
     * The rank-{@code rank} approximation of {@code matrix}.
     *
     * @param matrix a finite 2-D floating-point array (m, n), on any device; not modified
     * @param rank 1 to min(m, n)
     * @return the approximation, float32 (m, n), attached to {@code matrix}'s manager
     * @throws IllegalArgumentException if the matrix is not 2-D floating point, holds NaN or
     *     infinity, or the rank is out of range
     */
    public static NDArray approximate(NDArray matrix, int rank) {
        checkArgument(matrix != null, "matrix must not be null");
        Shape shape = matrix.getShape();
        checkArgument(shape.dimension() == 2, "matrix must be 2-D, got shape %s", shape);
        checkArgument(
                matrix.getDataType().isFloating(),
                "matrix must be floating-point, got %s",
                matrix.getDataType());
        long m = shape.get(0);
        long n = shape.get(1);
        long d = Math.min(m, n);
        checkArgument(
                rank >= 1 && rank <= d,
                "rank must be between 1 and min(m, n) = %s for shape %s, got %s",
                d,
                shape,
                rank);
        checkArgument(
                d * d <= Integer.MAX_VALUE - 8,
                "Gram matrix of %s x %s does not fit in a Java array",
                d,
                d);
        NDManager owner = matrix.getManager();
        try (NDManager scope = owner.newSubManager(matrix.getDevice())) {
            matrix.tempAttach(scope);
            NDArray w = matrix.toType(DataType.FLOAT64, true);
            boolean wide = n > m; // project on the smaller side
            NDArray gram = wide ? w.matMul(w.transpose()) : w.transpose().matMul(w);
            double[] g = gram.toDoubleArray();
            int size = (int) d;
            double[][] rows = new double[size][size];
            for (int i = 0; i < size; i++) {
                for (int j = 0; j < size; j++) {
                    double x = g[i * size + j];
                    checkArgument(
                            Double.isFinite(x),
                            "matrix holds non-finite values (its Gram matrix has %s), expected finite numbers",
                            x);
                    rows[i][j] = x;
                }
            }
            SymmetricEigen.Result eig = SymmetricEigen.decompose(rows);
            double[] basis = new double[size * rank];
            for (int i = 0; i < size; i++) {
                for (int j = 0; j < rank; j++) {
                    basis[i * rank + j] = eig.vectors()[i][j];
                }
            }
            NDArray q = scope.create(basis, new Shape(size, rank)); // (d, R), orthonormal columns
            NDArray approx =
                    wide ? q.matMul(q.transpose().matMul(w)) : w.matMul(q).matMul(q.transpose());
            NDArray result = approx.toType(DataType.FLOAT32, true);
            result.attach(owner);
            return result;
        }
    }
}
