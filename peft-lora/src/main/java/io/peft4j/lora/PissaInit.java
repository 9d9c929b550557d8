package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.peft4j.core.linalg.RandomizedSvd;
import java.util.Random;

/**
 * PiSSA ({@code init_lora_weights="pissa"} or {@code "pissa_niter_N"}): A and B from the top-r
 * singular triplets of W ({@code B = U sqrt(S/s)}, {@code A = sqrt(S/s) V^T}, by randomized SVD),
 * and W replaced by the residual {@code W - s B A}, so the start is still exact. The residual is
 * undone when the adapter is detached unmerged. Linear only.
 */
final class PissaInit extends LoraInitializer {

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
        super("PiSSA init", false);
        this.iterations = iterations > 0 ? iterations : DEFAULT_ITERATIONS;
        this.seed = seed;
    }

    /** The default init's values, overwritten by {@link #afterAttach}. */
    @Override
    float[][] linear(Random random, int r, long in, long out) {
        return KaimingUniformInit.INSTANCE.linear(random, r, in, out);
    }

    @Override
    void afterAttach(String path, LoraLayer layer, LoraLayer.Weights w) {
        NDArray weight = layer.baseWeight().getArray();
        int r = w.rank();
        try (NDManager scratch = weight.getManager().newSubManager()) {
            NDArray wf = weight.toType(DataType.FLOAT32, true);
            wf.attach(scratch);
            try (RandomizedSvd.Result svd =
                    RandomizedSvd.compute(wf, r, Math.max(8, r), iterations, seed)) {
                NDArray sqrtS = svd.s().div(w.scaling).sqrt(); // (r)
                NDArray b = svd.u().mul(sqrtS.reshape(1, r)); // (out, r)
                NDArray a = svd.vt().mul(sqrtS.reshape(r, 1)); // (r, in)
                b.attach(scratch);
                a.attach(scratch);
                b.toType(weight.getDataType(), false).copyTo(w.b.getArray());
                a.toType(weight.getDataType(), false).copyTo(w.a.getArray());
            }
        }
        LoraInitializer.takeOutOfBase(layer, w);
    }
}
