package io.peft4j.masa;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.peft4j.core.linalg.SymmetricEigen;
import java.util.List;

/**
 * Matrix PCA (MASA, arXiv 2508.04581): L weight matrices of one shape, stacked as the columns
 * {@code vec(W_l)} of M (out*in, L), are expressed through S Frobenius-orthonormal matrix atoms.
 *
 * <p>The L x L Gram matrix {@code M^T M = V Λ V^T} is computed by the engine in float64 and
 * eigen-decomposed on the JVM ({@link SymmetricEigen}, eigenvalues descending, each eigenvector's
 * largest entry positive so results repeat). Atoms {@code D = M V_S Λ_S^{-1/2}}, coefficients
 * {@code C = Λ_S^{1/2} V_S^T}, so {@code W_l ~= sum_s C[l][s] D_s}; with S = L it is exact, and the
 * squared Frobenius error summed over layers is the sum of the dropped eigenvalues.
 */
public final class MatrixPca {

    /** Eigenvalues at or below this fraction of the largest are treated as zero. */
    static final double ZERO_EIGENVALUE = 1e-10;

    private MatrixPca() {}

    /**
     * A fitted dictionary.
     *
     * @param atoms (S, out, in), in the weights' data type, attached to the manager passed to fit
     * @param coefficients L x S: {@code coefficients[l][s] = sqrt(λ_s) V[l][s]}
     * @param eigenvalues all L eigenvalues of the Gram matrix, descending
     */
    public record Result(NDArray atoms, double[][] coefficients, double[] eigenvalues)
            implements AutoCloseable {

        /** {@return S, the number of atoms} */
        public int numAtoms() {
            return (int) atoms.getShape().get(0);
        }

        /** {@return L, the number of layers (rows of the coefficients)} */
        public int numLayers() {
            return coefficients.length;
        }

        /**
         * {@return sum of the eigenvalues the S atoms leave out: the squared reconstruction error}
         */
        public double droppedEnergy() {
            double sum = 0;
            for (int i = numAtoms(); i < eigenvalues.length; i++) {
                sum += Math.max(0, eigenvalues[i]);
            }
            return sum;
        }

        /**
         * Layer l's reconstruction {@code sum_s C[l][s] D_s} (out, in), attached to the atoms'
         * manager.
         *
         * @param layer the layer index l
         * @return the reconstruction
         */
        public NDArray reconstruct(int layer) {
            return combine(atoms, coefficients[layer]);
        }

        @Override
        public void close() {
            atoms.close();
        }
    }

    /**
     * {@code sum_s c[s] D_s} for atoms (S, out, in); the result is attached to the atoms' manager.
     */
    static NDArray combine(NDArray atoms, double[] c) {
        Shape shape = atoms.getShape();
        int s = (int) shape.get(0);
        float[] cf = new float[s];
        for (int i = 0; i < s; i++) {
            cf[i] = (float) c[i];
        }
        NDManager m = atoms.getManager();
        try (NDManager scratch = m.newSubManager()) {
            NDArray coeff = scratch.create(cf, new Shape(1, s)).toType(atoms.getDataType(), false);
            NDArray flat = atoms.reshape(s, -1);
            NDArray out = coeff.matMul(flat).reshape(shape.get(1), shape.get(2));
            out.attach(m);
            return out;
        }
    }

    /**
     * Fits S atoms to {@code weights}.
     *
     * @param weights L >= 1 floating-point 2-D arrays of one shape (not modified)
     * @param atoms S, 1 to L
     * @param manager the manager the atoms attach to
     * @return the atoms, coefficients and eigenvalues
     * @throws IllegalArgumentException for an empty list, mixed shapes, S out of range, or when the
     *     weights span fewer than S dimensions (an eigenvalue among the top S is zero)
     */
    public static Result fit(List<NDArray> weights, int atoms, NDManager manager) {
        if (weights == null || weights.isEmpty()) {
            throw new IllegalArgumentException(
                    "Matrix PCA needs at least one weight matrix, got none");
        }
        int l = weights.size();
        if (atoms < 1 || atoms > l) {
            throw new IllegalArgumentException(
                    "Matrix PCA: atoms S must be between 1 and L = " + l + ", got " + atoms);
        }
        Shape shape = weights.get(0).getShape();
        DataType type = weights.get(0).getDataType();
        if (shape.dimension() != 2 || !type.isFloating()) {
            throw new IllegalArgumentException(
                    "Matrix PCA: weights must be floating-point 2-D, got " + shape + " " + type);
        }
        for (int i = 1; i < l; i++) {
            if (!weights.get(i).getShape().equals(shape)) {
                throw new IllegalArgumentException(
                        "Matrix PCA: weight "
                                + i
                                + " has shape "
                                + weights.get(i).getShape()
                                + ", expected "
                                + shape
                                + " like weight 0 (one dictionary needs one shape)");
            }
        }
        try (NDManager scratch = manager.newSubManager(weights.get(0).getDevice())) {
            NDList flat = new NDList();
            for (NDArray w : weights) {
                NDArray f = w.toType(DataType.FLOAT64, true).reshape(1, -1);
                f.attach(scratch);
                flat.add(f);
            }
            NDArray a = NDArrays.concat(flat, 0); // (L, N) = M^T
            a.attach(scratch);
            NDArray gram = a.matMul(a.transpose());
            double[] g = gram.toDoubleArray();
            double[][] gm = new double[l][l];
            for (int i = 0; i < l; i++) {
                for (int j = 0; j < l; j++) {
                    gm[i][j] = 0.5 * (g[i * l + j] + g[j * l + i]);
                }
            }
            SymmetricEigen.Result eig = SymmetricEigen.decompose(gm);
            double[] values = eig.values();
            double top = Math.max(values[0], Double.MIN_NORMAL);
            for (int s = 0; s < atoms; s++) {
                if (!(values[s] > top * ZERO_EIGENVALUE)) {
                    throw new IllegalArgumentException(
                            "Matrix PCA: the "
                                    + l
                                    + " weights of shape "
                                    + shape
                                    + " span only "
                                    + s
                                    + " dimension(s) (eigenvalue "
                                    + s
                                    + " is "
                                    + values[s]
                                    + " of "
                                    + values[0]
                                    + "); ask for at most "
                                    + s
                                    + " atoms");
                }
            }
            // scale (L, S) = V_S Λ_S^{-1/2}; atoms (S, N) = scale^T M^T
            double[] scale = new double[atoms * l];
            double[][] coefficients = new double[l][atoms];
            for (int s = 0; s < atoms; s++) {
                double root = Math.sqrt(values[s]);
                for (int i = 0; i < l; i++) {
                    double v = eig.vectors()[i][s];
                    scale[s * l + i] = v / root;
                    coefficients[i][s] = v * root;
                }
            }
            NDArray st = scratch.create(scale, new Shape(atoms, l)).toDevice(a.getDevice(), false);
            NDArray d = st.matMul(a).reshape(atoms, shape.get(0), shape.get(1)).toType(type, false);
            d.attach(manager);
            return new Result(d, coefficients, values.clone());
        }
    }
}
