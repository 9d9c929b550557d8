package io.peft4j.core.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * The functional transformer operations that more than one network computes the same way (the
 * decoders and encoders of peft-models, ShadowPEFT's shadow network): RMS norm, exact GELU,
 * rotate-half RoPE and grouped-query scaled dot-product attention, each as Hugging Face's
 * transformers computes it.
 */
public final class TransformerOps {

    private TransformerOps() {}

    /**
     * Root-mean-square norm as in LLaMA: {@code x / sqrt(mean(x^2) + eps) * weight} over the last
     * axis.
     *
     * @param x the input, (..., d)
     * @param weight the scale, (d)
     * @param eps added to the mean square
     * @return the normalised input, shaped like {@code x}
     */
    public static NDArray rmsNorm(NDArray x, NDArray weight, float eps) {
        NDArray meanSquare = x.square().mean(new int[] {-1}, true);
        return x.div(meanSquare.add(eps).sqrt()).mul(weight);
    }

    /**
     * Exact GELU, {@code x * (1 + erf(x / sqrt 2)) / 2}, as libtorch's fused {@code gelu}
     * (approximate "none"): one pass and a fused backward instead of five elementwise ops and their
     * gradients.
     *
     * @param x the input
     * @return GELU of each element
     */
    public static NDArray gelu(NDArray x) {
        return x.getNDArrayInternal().gelu();
    }

    /**
     * Rotary position embedding, rotate-half form: {@code x * cos + rotateHalf(x) * sin}, where
     * {@code rotateHalf([a, b]) = [-b, a]} on the last axis.
     *
     * @param x (B, heads, T, headDim)
     * @param cos (B or 1, 1, T, headDim)
     * @param sin (B or 1, 1, T, headDim)
     * @return rotated x
     */
    public static NDArray rope(NDArray x, NDArray cos, NDArray sin) {
        long half = x.getShape().get(x.getShape().dimension() - 1) / 2;
        NDArray first = x.get(new NDIndex("..., :" + half));
        NDArray second = x.get(new NDIndex("..., " + half + ":"));
        NDArray rotated = second.neg().concat(first, -1);
        return x.mul(cos).add(rotated.mul(sin));
    }

    /**
     * {@code softmax(q k^T / sqrt(d) + bias) v}, with grouped-query attention: query heads {@code
     * g*groups .. g*groups+groups-1} share key/value head g (Hugging Face's repeat_kv order).
     *
     * @param q (B, heads, T, d)
     * @param k (B, kvHeads, S, d); heads must be a multiple of kvHeads
     * @param v (B, kvHeads, S, d)
     * @param bias (B or 1, 1, T or 1, S), added to the scores; null for none
     * @param dropout probability to drop an attention weight (only when training)
     * @param training whether this is a training pass
     * @return (B, heads, T, d)
     */
    public static NDArray attention(
            NDArray q, NDArray k, NDArray v, NDArray bias, float dropout, boolean training) {
        Shape qs = q.getShape();
        long batch = qs.get(0);
        long heads = qs.get(1);
        long queryLen = qs.get(2);
        long headDim = qs.get(3);
        long kvHeads = k.getShape().get(1);
        long groups = heads / kvHeads;
        NDArray q5 = q.reshape(batch, kvHeads, groups, queryLen, headDim);
        NDArray kT = k.expandDims(2).transpose(0, 1, 2, 4, 3);
        // Scale q (T x d) rather than the scores (T x S): the same product up to rounding, on a
        // smaller array.
        NDArray scores = Scalars.mul(q5, 1.0 / Math.sqrt((double) headDim)).matMul(kT);
        if (bias != null) {
            scores = scores.add(bias.expandDims(2));
        }
        NDArray probs = scores.softmax(-1);
        probs = InvertedDropout.apply(probs, dropout, training);
        return probs.matMul(v.expandDims(2)).reshape(batch, heads, queryLen, headDim);
    }
}
