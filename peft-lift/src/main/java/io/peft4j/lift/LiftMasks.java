package io.peft4j.lift;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.peft4j.core.linalg.ExactLowRank;
import io.peft4j.core.linalg.RandomizedSvd;
import java.util.Arrays;

/**
 * LIFT's mask: the {@code k} entries of largest (or, as the released configs, smallest) {@code
 * |W'|}, where {@code W'} is the rank-{@code R} approximation of {@code W}: exact ({@link
 * ExactLowRank}, as the reference's {@code torch.svd}) when {@code min(m, n)} is at most the
 * config's {@code exact_svd_max_dim}, else core's {@link RandomizedSvd} (engine matmuls + EJML).
 * With {@code R = 0} or {@code R >= min(m, n)} the score is {@code |W|} itself (plain magnitude).
 */
public final class LiftMasks {

    private LiftMasks() {}

    /**
     * The selected flat indices of {@code weight}, ascending, by the config's rule (filter rank,
     * selection, exact-SVD threshold, randomized-SVD settings).
     *
     * @param weight a 2-D floating-point array (m, n); not modified
     * @param k how many entries, 1 to m n
     * @param config the filter rank, selection, exact-SVD threshold and randomized-SVD settings
     * @param seed seed of the randomized SVD's test matrices
     * @return the selected flat (row-major) indices, ascending
     */
    public static long[] select(NDArray weight, long k, LiftConfig config, long seed) {
        return select(
                weight,
                k,
                config.filterRank(),
                config.maskSelection(),
                config.exactSvdMaxDim(),
                config.svdOversample(),
                config.svdIterations(),
                seed);
    }

    /**
     * The {@code k} entries of largest {@code |W'|} with the randomized SVD always (no exact path).
     *
     * @param weight a 2-D floating-point array (m, n); not modified
     * @param k how many entries, 1 to m n
     * @param filterRank the approximation rank R (0: none)
     * @param oversample extra random directions of the randomized SVD
     * @param iterations power iterations of the randomized SVD
     * @param seed seed of the randomized SVD's test matrices
     * @return the selected flat (row-major) indices, ascending
     * @see #select(NDArray, long, int, MaskSelection, int, int, int, long)
     */
    public static long[] select(
            NDArray weight, long k, int filterRank, int oversample, int iterations, long seed) {
        return select(
                weight, k, filterRank, MaskSelection.LARGEST, 0, oversample, iterations, seed);
    }

    /**
     * The selected flat (row-major) indices of {@code weight}, ascending.
     *
     * @param weight a 2-D floating-point array (m, n); not modified
     * @param k how many entries, 1 to m n
     * @param filterRank the approximation rank R (0: none)
     * @param selection the largest or the smallest entries of the score
     * @param exactMaxDim exact approximation when min(m, n) is at most this (0: never)
     * @param oversample the randomized SVD's oversampling
     * @param iterations the randomized SVD's power iterations
     * @param seed the randomized SVD's seed
     * @return k distinct indices in [0, m n), sorted ascending
     */
    public static long[] select(
            NDArray weight,
            long k,
            int filterRank,
            MaskSelection selection,
            int exactMaxDim,
            int oversample,
            int iterations,
            long seed) {
        Shape shape = weight.getShape();
        if (shape.dimension() != 2) {
            throw new IllegalArgumentException("LIFT needs a 2-D weight, got shape " + shape);
        }
        long m = shape.get(0);
        long n = shape.get(1);
        long total = m * n;
        if (k < 1 || k > total) {
            throw new IllegalArgumentException(
                    "LIFT budget k="
                            + k
                            + " must be in [1, "
                            + total
                            + "] for a weight of shape "
                            + shape);
        }
        if (total > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(
                    "LIFT supports weights of at most 2^31-1 entries; got shape " + shape);
        }
        if (k == total) {
            long[] all = new long[(int) total];
            for (int i = 0; i < all.length; i++) {
                all[i] = i;
            }
            return all;
        }
        try (NDManager scratch = weight.getManager().newSubManager()) {
            NDArray score =
                    score(weight, filterRank, exactMaxDim, oversample, iterations, seed, scratch);
            NDList top =
                    score.flatten()
                            .topK(Math.toIntExact(k), 0, selection == MaskSelection.LARGEST, false);
            top.attach(scratch);
            NDArray idx =
                    top.get(1).getDataType() == DataType.INT64
                            ? top.get(1)
                            : top.get(1).toType(DataType.INT64, false);
            long[] result = idx.toLongArray();
            Arrays.sort(result);
            return result;
        }
    }

    /**
     * {@code |W'|} (float32), with {@code W'} the rank-R approximation from the randomized SVD, or
     * {@code |W|} when R is 0 or at least min(m, n). The result is attached to {@code scratch}.
     *
     * @param weight the (m, n) weight
     * @param filterRank R, the rank of the approximation (0: none)
     * @param oversample extra random directions of the randomized SVD
     * @param iterations power iterations of the randomized SVD
     * @param seed seed of the randomized SVD's test matrices
     * @param scratch owns the result and the intermediates
     * @return the scores, shape (m, n)
     */
    public static NDArray score(
            NDArray weight,
            int filterRank,
            int oversample,
            int iterations,
            long seed,
            NDManager scratch) {
        return score(weight, filterRank, 0, oversample, iterations, seed, scratch);
    }

    /**
     * {@code |W'|} (float32), with {@code W'} the rank-R approximation (exact when min(m, n) {@code
     * <= exactMaxDim}, else randomized), or {@code |W|} when R is 0 or at least min(m, n). The
     * result is attached to {@code scratch}.
     *
     * @param weight the (m, n) weight
     * @param filterRank R, the rank of the approximation (0: none)
     * @param exactMaxDim the largest min(m, n) given the exact approximation (0: always randomized)
     * @param oversample extra random directions of the randomized SVD
     * @param iterations power iterations of the randomized SVD
     * @param seed seed of the randomized SVD's test matrices
     * @param scratch owns the result and the intermediates
     * @return the scores, shape (m, n)
     */
    public static NDArray score(
            NDArray weight,
            int filterRank,
            int exactMaxDim,
            int oversample,
            int iterations,
            long seed,
            NDManager scratch) {
        long m = weight.getShape().get(0);
        long n = weight.getShape().get(1);
        NDArray wf = weight.toType(DataType.FLOAT32, true);
        wf.attach(scratch);
        if (filterRank <= 0 || filterRank >= Math.min(m, n)) {
            NDArray abs = wf.abs();
            abs.attach(scratch);
            return abs;
        }
        if (Math.min(m, n) <= exactMaxDim) {
            NDArray approx = ExactLowRank.approximate(wf, filterRank);
            NDArray abs = approx.abs();
            abs.attach(scratch);
            approx.close();
            return abs;
        }
        try (RandomizedSvd.Result svd =
                RandomizedSvd.compute(wf, filterRank, oversample, iterations, seed)) {
            NDArray approx = svd.u().mul(svd.s().reshape(1, filterRank)).matMul(svd.vt());
            NDArray abs = approx.abs();
            abs.attach(scratch);
            approx.close();
            return abs;
        }
    }

    /**
     * For each entry of {@code next} (ascending), its position in {@code previous} (ascending), or
     * -1 when it is new: how moments carry over a refresh.
     */
    static int[] carry(long[] previous, long[] next) {
        int[] pos = new int[next.length];
        int i = 0;
        for (int j = 0; j < next.length; j++) {
            while (i < previous.length && previous[i] < next[j]) {
                i++;
            }
            pos[j] = i < previous.length && previous[i] == next[j] ? i : -1;
        }
        return pos;
    }
}
