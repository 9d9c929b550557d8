package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import io.peft4j.core.ops.Scalars;

/** Sentence embeddings from token states. */
public final class Pooling {

    private Pooling() {}

    /**
     * Mean of the real tokens' states (sentence-transformers' mean pooling).
     *
     * @param hidden (B, T, H)
     * @param attentionMask (B, T), 1 for real tokens
     * @return (B, H)
     */
    public static NDArray mean(NDArray hidden, NDArray attentionMask) {
        NDArray m = attentionMask.toType(hidden.getDataType(), false).expandDims(-1);
        NDArray counts = m.sum(new int[] {1}).maximum(1e-9f);
        return hidden.mul(m).sum(new int[] {1}).div(counts);
    }

    /**
     * Rows scaled to unit L2 norm.
     *
     * @param x (B, H)
     * @return (B, H)
     */
    public static NDArray normalize(NDArray x) {
        return x.div(x.square().sum(new int[] {-1}, true).sqrt().maximum(Scalars.scalar(x, 1e-12)));
    }
}
