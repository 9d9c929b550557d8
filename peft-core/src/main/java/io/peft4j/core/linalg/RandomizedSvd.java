package io.peft4j.core.linalg;

import static com.google.common.base.Preconditions.checkArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.QRDecomposition;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

/**
 * Truncated SVD {@code A ~ U diag(s) V^T} by the randomized range finder of Halko, Martinsson and
 * Tropp (2011), Algorithms 4.4 and 5.1.
 *
 * <p>Division of labour: the products with the large matrix A (m x n) run on the engine, on A's
 * device, in float32. Only tall-skinny (m x k, n x k) and small (k x n) matrices, k = rank +
 * oversample, come to the JVM, where they are orthonormalised (Householder QR) and decomposed (SVD)
 * in double precision with EJML. Re-orthonormalising after every product of the power iteration
 * matters in float32: without it the columns collapse onto the top singular vector and the smaller
 * singular values are lost.
 *
 * <p>Results are deterministic for a given seed: the Gaussian test matrix comes from {@link
 * java.util.Random}, whose algorithm is specified, and each singular pair's sign is fixed so that
 * the largest-magnitude entry of its {@code vt} row is positive.
 */
public final class RandomizedSvd {

    private RandomizedSvd() {}

    /**
     * A truncated SVD. The arrays belong to the input matrix's manager; {@link #close()} frees them
     * early.
     *
     * @param u the left singular vectors, (m, rank), orthonormal columns
     * @param s the singular values, (rank), descending, non-negative
     * @param vt the right singular vectors as rows, (rank, n), orthonormal rows
     */
    public record Result(NDArray u, NDArray s, NDArray vt) implements AutoCloseable {
        /** Closes the three arrays. */
        @Override
        public void close() {
            u.close();
            s.close();
            vt.close();
        }
    }

    /**
     * Computes the {@code rank} leading singular triplets of {@code matrix}.
     *
     * @param matrix a 2-D array (m, n) of a floating-point type, on any device; it is not modified.
     *     (It is attached to a scratch sub-manager while this runs, so that every intermediate is
     *     freed at the end, and returned to its manager afterwards; do not use it from another
     *     thread meanwhile.)
     * @param rank how many singular triplets, 1 to min(m, n)
     * @param oversample extra random directions (Halko et al. suggest 5 to 10); the sketch width
     *     {@code rank + oversample} is capped at min(m, n), where the result is exact up to
     *     rounding
     * @param powerIterations passes of {@code (A A^T)} that sharpen a slowly decaying spectrum (0
     *     to 2 is usual)
     * @param seed seeds the Gaussian test matrix
     * @return u (m, rank), s (rank), vt (rank, n), float32, on the matrix's device
     * @throws IllegalArgumentException if an argument is out of range, or the matrix holds NaN or
     *     infinity
     */
    public static Result compute(
            NDArray matrix, int rank, int oversample, int powerIterations, long seed) {
        checkArgument(matrix != null, "matrix must not be null");
        Shape shape = matrix.getShape();
        checkArgument(shape.dimension() == 2, "matrix must be 2-D, got shape %s", shape);
        DataType type = matrix.getDataType();
        checkArgument(type.isFloating(), "matrix must be floating-point, got %s", type);
        long m = shape.get(0);
        long n = shape.get(1);
        long minDim = Math.min(m, n);
        checkArgument(
                rank >= 1 && rank <= minDim,
                "rank must be between 1 and min(m, n) = %s for shape %s, got %s",
                minDim,
                shape,
                rank);
        checkArgument(oversample >= 0, "oversample must be >= 0, got %s", oversample);
        checkArgument(
                powerIterations >= 0, "powerIterations must be >= 0, got %s", powerIterations);
        int k = (int) Math.min((long) rank + oversample, minDim);
        checkArgument(
                Math.max(m, n) * k <= Integer.MAX_VALUE - 8,
                "sketch of %s x %s does not fit in a Java array; lower rank + oversample",
                Math.max(m, n),
                k);

        NDManager owner = matrix.getManager();
        try (NDManager scope = owner.newSubManager(matrix.getDevice())) {
            // Intermediates attach to the manager of their first operand, i.e. the matrix's: move
            // the matrix into the scope for the duration so that all of them die with it.
            matrix.tempAttach(scope);
            NDArray a = type == DataType.FLOAT32 ? matrix : matrix.toType(DataType.FLOAT32, false);

            NDArray omega = scope.create(gaussian(n * k, seed), new Shape(n, k));
            NDArray q = orthonormalize(a.matMul(omega), scope);
            for (int i = 0; i < powerIterations; i++) {
                NDArray z = orthonormalize(a.transpose().matMul(q), scope);
                q = orthonormalize(a.matMul(z), scope);
            }
            NDArray b = q.transpose().matMul(a); // (k, n): A restricted to the range found

            DMatrixRMaj small = toMatrix(b, "Q^T A");
            SingularValueDecomposition_F64<DMatrixRMaj> svd =
                    DecompositionFactory_DDRM.svd(k, (int) n, true, true, true);
            if (!svd.decompose(small)) {
                throw new IllegalStateException("SVD of the " + k + " x " + n + " sketch failed");
            }
            DMatrixRMaj ub = svd.getU(null, false); // k x k
            DMatrixRMaj w = svd.getW(null); // k x k diagonal
            DMatrixRMaj v = svd.getV(null, false); // n x k
            SingularOps_DDRM.descendingOrder(ub, false, w, v, false);

            float[] uSmall = new float[k * rank];
            float[] sv = new float[rank];
            float[] vt = new float[(int) n * rank];
            for (int j = 0; j < rank; j++) {
                int argmax = 0;
                for (int c = 1; c < n; c++) {
                    if (Math.abs(v.get(c, j)) > Math.abs(v.get(argmax, j))) {
                        argmax = c;
                    }
                }
                double sign = v.get(argmax, j) < 0 ? -1 : 1;
                sv[j] = (float) w.get(j, j);
                for (int r = 0; r < k; r++) {
                    uSmall[r * rank + j] = (float) (sign * ub.get(r, j));
                }
                for (int c = 0; c < n; c++) {
                    vt[j * (int) n + c] = (float) (sign * v.get(c, j));
                }
            }
            NDArray u = q.matMul(scope.create(uSmall, new Shape(k, rank)));
            NDArray s = scope.create(sv, new Shape(rank));
            NDArray vtArray = scope.create(vt, new Shape(rank, n));
            u.attach(owner);
            s.attach(owner);
            vtArray.attach(owner);
            return new Result(u, s, vtArray);
        }
    }

    /**
     * An orthonormal basis of the columns of {@code y} (Householder QR's {@code Q}, in double
     * precision on the JVM): same shape, float32. Also what LoRA's OLoRA init starts from.
     *
     * @param y (rows, cols) with {@code cols <= rows}
     * @param scope the manager the result is created in
     * @return Q (rows, cols) with orthonormal columns spanning those of {@code y}
     * @throws IllegalStateException when the decomposition fails
     */
    public static NDArray orthonormalize(NDArray y, NDManager scope) {
        Shape shape = y.getShape();
        int rows = (int) shape.get(0);
        int cols = (int) shape.get(1);
        DMatrixRMaj matrix = toMatrix(y, "sketch");
        QRDecomposition<DMatrixRMaj> qr = DecompositionFactory_DDRM.qr(rows, cols);
        if (!qr.decompose(matrix)) {
            throw new IllegalStateException("QR of a " + rows + " x " + cols + " sketch failed");
        }
        DMatrixRMaj q = qr.getQ(null, true);
        double[] data = q.getData();
        float[] out = new float[rows * cols];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) data[i];
        }
        return scope.create(out, shape);
    }

    private static DMatrixRMaj toMatrix(NDArray array, String what) {
        Shape shape = array.getShape();
        float[] values = array.toFloatArray();
        double[] data = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            float x = values[i];
            checkArgument(
                    Float.isFinite(x),
                    "matrix holds non-finite values (%s found in %s), expected finite numbers",
                    x,
                    what);
            data[i] = x;
        }
        return DMatrixRMaj.wrap((int) shape.get(0), (int) shape.get(1), data);
    }

    private static float[] gaussian(long count, long seed) {
        Random random = new Random(seed);
        float[] out = new float[(int) count];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) random.nextGaussian();
        }
        return out;
    }
}
