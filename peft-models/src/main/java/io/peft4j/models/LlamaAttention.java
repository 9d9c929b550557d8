package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.ops.TransformerOps;

/**
 * Multi-head self-attention with rotary positions and grouped-query attention ({@code self_attn}).
 * Children: {@code q_proj}, {@code k_proj}, {@code v_proj}, {@code o_proj} (DJL {@link Linear}).
 *
 * <p>Input {@code [hidden (B,T,H), bias (B|1,1,T,S), cos (B,1,T,d), sin, pastKey?, pastValue?]};
 * output {@code [out (B,T,H), key (B,kv,S,d), value (B,kv,S,d)]} where key/value include the past
 * ones (for a KV cache).
 */
public final class LlamaAttention extends AbstractBlock {

    private final LlamaConfig config;
    private Block qProj;
    private Block kProj;
    private Block vProj;
    private Block oProj;

    /**
     * @param config model configuration
     */
    public LlamaAttention(LlamaConfig config) {
        this.config = config;
        long qWidth = (long) config.numAttentionHeads() * config.headDim();
        long kvWidth = (long) config.numKeyValueHeads() * config.headDim();
        qProj = addChildBlock("q_proj", linear(qWidth, config.qkvBias()));
        kProj = addChildBlock("k_proj", linear(kvWidth, config.qkvBias()));
        vProj = addChildBlock("v_proj", linear(kvWidth, config.qkvBias()));
        oProj = addChildBlock("o_proj", linear(config.hiddenSize(), config.outputBias()));
    }

    static Block linear(long units, boolean bias) {
        return Linear.builder().setUnits(units).optBias(bias).build();
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray hidden = inputs.get(0);
        NDArray bias = inputs.get(1);
        NDArray cos = inputs.get(2);
        NDArray sin = inputs.get(3);
        long batch = hidden.getShape().get(0);
        long len = hidden.getShape().get(1);
        int heads = config.numAttentionHeads();
        int kvHeads = config.numKeyValueHeads();
        int headDim = config.headDim();

        NDArray q =
                split(
                        qProj.forward(ps, new NDList(hidden), training, params).head(),
                        batch,
                        len,
                        heads,
                        headDim);
        NDArray k =
                split(
                        kProj.forward(ps, new NDList(hidden), training, params).head(),
                        batch,
                        len,
                        kvHeads,
                        headDim);
        NDArray v =
                split(
                        vProj.forward(ps, new NDList(hidden), training, params).head(),
                        batch,
                        len,
                        kvHeads,
                        headDim);
        q = TransformerOps.rope(q, cos, sin);
        k = TransformerOps.rope(k, cos, sin);
        if (inputs.size() >= 6) {
            k = inputs.get(4).concat(k, 2);
            v = inputs.get(5).concat(v, 2);
        }
        NDArray attended = Attention.scaledDotProduct(q, k, v, bias, 0f, training);
        NDArray merged = attended.transpose(0, 2, 1, 3).reshape(batch, len, (long) heads * headDim);
        NDArray out = oProj.forward(ps, new NDList(merged), training, params).head();
        return new NDList(out, k, v);
    }

    /** (B, T, heads*d) -> (B, heads, T, d). */
    private static NDArray split(NDArray x, long batch, long len, int heads, int headDim) {
        return x.reshape(batch, len, heads, headDim).transpose(0, 2, 1, 3);
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape in = new Shape(1, config.hiddenSize());
        qProj.initialize(manager, dataType, in);
        kProj.initialize(manager, dataType, in);
        vProj.initialize(manager, dataType, in);
        oProj.initialize(
                manager,
                dataType,
                new Shape(1, (long) config.numAttentionHeads() * config.headDim()));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape h = inputShapes[0];
        long past = inputShapes.length >= 6 ? inputShapes[4].get(2) : 0;
        Shape kv =
                new Shape(h.get(0), config.numKeyValueHeads(), past + h.get(1), config.headDim());
        return new Shape[] {h, kv, kv};
    }
}
