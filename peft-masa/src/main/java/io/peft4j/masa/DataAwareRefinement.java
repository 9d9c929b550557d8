package io.peft4j.masa;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.factory.LinearSolverFactory_DDRM;
import org.ejml.interfaces.linsol.LinearSolverDense;

/**
 * MASA's data-aware local refinement for a pretrained model: starting from Matrix PCA, atoms and
 * coefficients of one dictionary are refined to minimise the projections' <em>output</em> error on
 * calibration activations, {@code sum_l ||X_l W_l^T - X_l Ŵ_l^T||^2 = sum_l tr(E_l H_l E_l^T)} with
 * {@code E_l = W_l - sum_s c_ls D_s} and {@code H_l = X_l^T X_l}, instead of the weight error
 * {@code sum_l ||E_l||^2} that PCA minimises.
 *
 * <p>Alternating least squares, both steps exact: with the atoms fixed each layer's coefficients
 * solve an S x S system ({@code A_st = <D_t H_l, D_s>}, {@code b_s = <W_l H_l, D_s>}); with the
 * coefficients fixed every row of the atoms solves the same (S in) x (S in) system {@code K = sum_l
 * (c_l c_l^T) ⊗ H_l} (one inverse on the engine, float64, for all rows). The atom step is skipped
 * (only coefficients are refined) when {@code S in} exceeds {@link #MAX_ATOM_SYSTEM}. The state
 * with the lowest objective is kept, so the result is never worse on the calibration data than PCA.
 */
final class DataAwareRefinement {

    /**
     * Largest S * in whose atom system is solved (a dense (S in)^2 float64 inverse on the engine).
     */
    static final int MAX_ATOM_SYSTEM = 4096;

    /** A tiny ridge relative to the mean diagonal, so a rank-deficient H still solves. */
    private static final double RIDGE = 1e-9;

    private DataAwareRefinement() {}

    /**
     * The refined dictionary.
     *
     * @param atoms (S, out, in) in the weights' type, attached to the manager given to {@link
     *     #refine}
     * @param coefficients L x S
     * @param objectiveBefore the output error of the PCA start
     * @param objectiveAfter the output error of the result (at most objectiveBefore)
     * @param atomsRefined whether the atom step ran (false above {@link #MAX_ATOM_SYSTEM})
     */
    record Result(
            NDArray atoms,
            double[][] coefficients,
            double objectiveBefore,
            double objectiveAfter,
            boolean atomsRefined) {}

    static Result refine(
            List<NDArray> weights,
            List<NDArray> grams,
            NDArray atoms0,
            double[][] coefficients0,
            int iterations,
            NDManager manager) {
        int l = weights.size();
        int s = (int) atoms0.getShape().get(0);
        long out = atoms0.getShape().get(1);
        long in = atoms0.getShape().get(2);
        DataType type = atoms0.getDataType();
        try (NDManager scratch = manager.newSubManager(atoms0.getDevice())) {
            List<NDArray> w = new ArrayList<>();
            List<NDArray> h = new ArrayList<>();
            List<NDArray> p = new ArrayList<>(); // W_l H_l
            for (int i = 0; i < l; i++) {
                NDArray wi = weights.get(i).toType(DataType.FLOAT64, true);
                wi.attach(scratch);
                NDArray hi = grams.get(i).toType(DataType.FLOAT64, true);
                hi.attach(scratch);
                w.add(wi);
                h.add(hi);
                NDArray pi = wi.matMul(hi);
                pi.attach(scratch);
                p.add(pi);
            }
            NDArray d = atoms0.toType(DataType.FLOAT64, true);
            d.attach(scratch);
            double[][] c = copy(coefficients0);
            double before = objective(w, h, d, c);
            NDArray bestD = d;
            double[][] bestC = copy(c);
            double best = before;
            boolean atomStep = (long) s * in <= MAX_ATOM_SYSTEM;
            for (int it = 0; it < iterations; it++) {
                c = solveCoefficients(p, h, d);
                if (atomStep) {
                    d = solveAtoms(p, h, c, s, out, in, scratch);
                    c = solveCoefficients(p, h, d);
                }
                double obj = objective(w, h, d, c);
                if (obj < best) {
                    best = obj;
                    bestD = d;
                    bestC = copy(c);
                }
            }
            NDArray result = bestD.toType(type, true);
            result.attach(manager);
            return new Result(result, bestC, before, best, atomStep);
        }
    }

    /** {@code sum_l tr(E_l H_l E_l^T)}. */
    static double objective(List<NDArray> w, List<NDArray> h, NDArray d, double[][] c) {
        double total = 0;
        for (int i = 0; i < w.size(); i++) {
            try (NDManager tmp = d.getManager().newSubManager()) {
                NDArray e = w.get(i).sub(MatrixPca.combine(d, c[i]));
                e.attach(tmp);
                NDArray v = e.matMul(h.get(i)).mul(e).sum();
                v.attach(tmp);
                total += v.getDouble();
            }
        }
        return total;
    }

    private static double[][] solveCoefficients(List<NDArray> p, List<NDArray> h, NDArray d) {
        int s = (int) d.getShape().get(0);
        double[][] c = new double[p.size()][s];
        for (int i = 0; i < p.size(); i++) {
            try (NDManager tmp = d.getManager().newSubManager()) {
                NDArray dh = d.matMul(h.get(i)); // (S, out, in) x (in, in)
                dh.attach(tmp);
                NDArray flatD = d.reshape(s, -1);
                NDArray a = dh.reshape(s, -1).matMul(flatD.transpose()); // A[t][s] = <D_t H, D_s>
                NDArray b = flatD.matMul(p.get(i).reshape(-1, 1)); // b_s = <W H, D_s>
                a.attach(tmp);
                b.attach(tmp);
                double[] av = a.toDoubleArray();
                double[] bv = b.toDoubleArray();
                DMatrixRMaj am = new DMatrixRMaj(s, s);
                for (int x = 0; x < s; x++) {
                    for (int y = 0; y < s; y++) {
                        am.set(x, y, 0.5 * (av[x * s + y] + av[y * s + x]));
                    }
                }
                c[i] = solve(am, DMatrixRMaj.wrap(s, 1, bv)).data;
            }
        }
        return c;
    }

    private static NDArray solveAtoms(
            List<NDArray> p,
            List<NDArray> h,
            double[][] c,
            int s,
            long out,
            long in,
            NDManager scratch) {
        // K (S in, S in): block (a, b) = sum_l c_la c_lb H_l; built and inverted on the engine in
        // float64 (one (S in)^3 inverse, fast in the engine's BLAS; EJML's Cholesky was ~30x
        // slower)
        NDList rows = new NDList();
        for (int a = 0; a < s; a++) {
            NDList row = new NDList();
            for (int b = 0; b < s; b++) {
                NDArray block = null;
                for (int i = 0; i < h.size(); i++) {
                    NDArray term = h.get(i).mul(c[i][a] * c[i][b]);
                    block = block == null ? term : block.add(term);
                }
                row.add(block);
            }
            rows.add(NDArrays.concat(row, 1));
        }
        NDArray k = NDArrays.concat(rows, 0);
        k.attach(scratch);
        int n = (int) (s * in);
        double trace = k.diagonal().sum().getDouble();
        NDArray ridge =
                scratch.eye(n)
                        .toType(DataType.FLOAT64, false)
                        .mul(RIDGE * Math.max(trace / n, Double.MIN_NORMAL));
        // right-hand sides (S in, out): block a = sum_l c_la (W_l H_l)^T
        NDList blocks = new NDList();
        for (int a = 0; a < s; a++) {
            NDArray sum = null;
            for (int i = 0; i < p.size(); i++) {
                NDArray term = p.get(i).mul(c[i][a]);
                sum = sum == null ? term : sum.add(term);
            }
            blocks.add(sum.transpose());
        }
        NDArray rhs = NDArrays.concat(blocks, 0);
        rhs.attach(scratch);
        NDArray sol = k.add(ridge).inverse().matMul(rhs); // rows (a, j), columns r: D_a[r][j]
        sol.attach(scratch);
        return sol.reshape(s, in, out).transpose(0, 2, 1);
    }

    /** Solves the symmetric positive semi-definite system {@code a x = b} with a tiny ridge. */
    private static DMatrixRMaj solve(DMatrixRMaj a, DMatrixRMaj b) {
        int n = a.numRows;
        double trace = 0;
        for (int i = 0; i < n; i++) {
            trace += a.get(i, i);
        }
        double ridge = RIDGE * Math.max(trace / n, Double.MIN_NORMAL);
        for (int i = 0; i < n; i++) {
            a.add(i, i, ridge);
        }
        LinearSolverDense<DMatrixRMaj> solver = LinearSolverFactory_DDRM.symmPosDef(n);
        DMatrixRMaj x = new DMatrixRMaj(n, b.numCols);
        if (!solver.setA(a)) {
            solver = LinearSolverFactory_DDRM.general(n, n); // not numerically positive definite
            if (!solver.setA(a)) {
                throw new IllegalStateException(
                        "MASA refinement: the " + n + " x " + n + " system is singular");
            }
        }
        solver.solve(b, x);
        return x;
    }

    private static double[][] copy(double[][] c) {
        double[][] out = new double[c.length][];
        for (int i = 0; i < c.length; i++) {
            out[i] = c[i].clone();
        }
        return out;
    }
}
