package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.peft4j.core.linalg.RandomizedSvd;

/**
 * PiSSA ({@code init_lora_weights="pissa"} or {@code "pissa_niter_N"}): A and B from the top-r
 * singular triplets of W ({@code B = U sqrt(S/s)}, {@code A = sqrt(S/s) V^T}, by randomized SVD),
 * and W replaced by the residual {@code W - s B A}, so the start is still exact. The residual is
 * undone when the adapter is detached unmerged. Linear only.
 */
final class PissaInit extends ResidualInit {

    /** Power iterations when the config names none ({@code "pissa"}). */
    static final int DEFAULT_ITERATIONS = 4;

    private final int iterations;
    private final long seed;

    /**
     * PiSSA with a randomized SVD of {@code iterations} power iterations.
     *
     * @param iterations power iterations (0: {@link #DEFAULT_ITERATIONS})
     * @param seed the SVD's seed
     */
    PissaInit(int iterations, long seed) {
        this.iterations = iterations > 0 ? iterations : DEFAULT_ITERATIONS;
        this.seed = seed;
    }

    @Override
    public String name() {
        return "PiSSA init";
    }

    @Override
    NDArray[] factors(String path, NDArray weight, LoraLayer.Weights w, NDManager scratch) {
        int r = w.rank();
        try (RandomizedSvd.Result svd =
                RandomizedSvd.compute(weight, r, Math.max(8, r), iterations, seed)) {
            NDArray sqrtS = svd.s().div(w.scaling).sqrt(); // (r)
            NDArray b = svd.u().mul(sqrtS.reshape(1, r)); // (out, r)
            NDArray a = svd.vt().mul(sqrtS.reshape(r, 1)); // (r, in)
            b.attach(scratch);
            a.attach(scratch);
            return new NDArray[] {a, b};
        }
    }
}
