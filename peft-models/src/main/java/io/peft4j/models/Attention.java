package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.peft4j.core.ops.TransformerOps;

/** Masks and scaled dot-product attention shared by the decoder and the encoder. */
final class Attention {

    private Attention() {}

    /**
     * Most negative value safe to add to attention scores of this type: a fully masked row then
     * softmaxes to a uniform row instead of NaN, and masked keys get exactly zero weight otherwise.
     */
    static float maskValue(DataType dataType) {
        return dataType == DataType.FLOAT16 ? -1e4f : -1e9f;
    }

    /**
     * Additive bias for a causal decoder: query t (absolute index {@code keyLen - queryLen + t})
     * may see key s when {@code s <= index}, the key is not padding, and (with a window) when
     * {@code index - s < window}.
     *
     * @param manager where the bias is made (the forward pass's scope)
     * @param keyMask (B, keyLen) 1 for real tokens, 0 for padding; null if there is none
     * @param queryLen T
     * @param keyLen S (past + T)
     * @param window sliding window, 0 for none
     * @param dataType type of the scores
     * @return (B or 1, 1, T, S) with 0 where allowed and a large negative value elsewhere
     */
    static NDArray causalBias(
            NDManager manager,
            NDArray keyMask,
            long queryLen,
            long keyLen,
            int window,
            DataType dataType) {
        long past = keyLen - queryLen;
        NDArray q =
                manager.arange(Math.toIntExact(past), Math.toIntExact(keyLen), 1, DataType.INT64)
                        .reshape(queryLen, 1);
        NDArray k =
                manager.arange(0, Math.toIntExact(keyLen), 1, DataType.INT64).reshape(1, keyLen);
        NDArray allowed = k.lte(q);
        if (window > 0) {
            allowed = allowed.logicalAnd(q.sub(k).lt(window));
        }
        allowed = allowed.expandDims(0);
        if (keyMask != null) {
            allowed = allowed.logicalAnd(keyMask.gt(0).expandDims(1));
        }
        return allowed.logicalNot().toType(dataType, false).mul(maskValue(dataType)).expandDims(1);
    }

    /**
     * The name that marks a bias as all zeros (a batch without padding): {@link #scaledDotProduct}
     * then skips the add, a full pass over the (B, heads, T, S) scores in the forward pass and one
     * more in the backward pass, for nothing.
     */
    static final String NO_PADDING = "peft4j.attention.no-padding";

    /**
     * The bias for keys that are all real tokens: zeros (1, 1, 1, S), named {@link #NO_PADDING}.
     *
     * @param manager where the bias is made (the forward pass's scope)
     * @param keyLen S
     * @param dataType type of the scores
     */
    static NDArray noPaddingBias(NDManager manager, long keyLen, DataType dataType) {
        NDArray bias = manager.zeros(new Shape(1, 1, 1, keyLen), dataType);
        bias.setName(NO_PADDING);
        return bias;
    }

    /**
     * Additive bias for a bidirectional encoder: {@link #noPaddingBias} when the mask has no
     * padding (one host sync to find out, cheaper than adding zeros to every score twice).
     *
     * @param keyMask (B, S) 1 for real tokens, 0 for padding
     * @param dataType type of the scores
     * @return (B, 1, 1, S)
     */
    static NDArray paddingBias(NDArray keyMask, DataType dataType) {
        Shape s = keyMask.getShape();
        if (!keyMask.lte(0).any().getBoolean()) {
            return noPaddingBias(keyMask.getManager(), s.get(1), dataType);
        }
        return keyMask.gt(0)
                .logicalNot()
                .toType(dataType, false)
                .mul(maskValue(dataType))
                .reshape(s.get(0), 1, 1, s.get(1));
    }

    /**
     * {@link TransformerOps#attention}, with a bias named {@link #NO_PADDING} (all zeros) left out.
     *
     * @param q (B, heads, T, d)
     * @param k (B, kvHeads, S, d)
     * @param v (B, kvHeads, S, d)
     * @param bias (B or 1, 1, T or 1, S), added to the scores
     * @param dropout probability to drop an attention weight (only when training)
     * @param training whether this is a training pass
     * @return (B, heads, T, d)
     */
    static NDArray scaledDotProduct(
            NDArray q, NDArray k, NDArray v, NDArray bias, float dropout, boolean training) {
        return TransformerOps.attention(
                q, k, v, NO_PADDING.equals(bias.getName()) ? null : bias, dropout, training);
    }
}
