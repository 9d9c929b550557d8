package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * One pre-norm decoder layer ({@code model.layers.i}): {@code h += self_attn(input_layernorm(h)); h
 * += mlp(post_attention_layernorm(h))}.
 *
 * <p>Input {@code [hidden, bias, cos, sin, pastKey?, pastValue?]}; output {@code [hidden, key,
 * value]} (key/value for a KV cache, past included).
 */
public final class LlamaDecoderLayer extends AbstractBlock {

    private final LlamaConfig config;
    private Block selfAttn;
    private Block mlp;
    private Block inputLayernorm;
    private Block postAttentionLayernorm;

    /**
     * @param config model configuration
     */
    public LlamaDecoderLayer(LlamaConfig config) {
        this.config = config;
        selfAttn = addChildBlock("self_attn", new LlamaAttention(config));
        mlp = addChildBlock("mlp", new LlamaMlp(config));
        inputLayernorm =
                addChildBlock(
                        "input_layernorm", new RmsNorm(config.hiddenSize(), config.rmsNormEps()));
        postAttentionLayernorm =
                addChildBlock(
                        "post_attention_layernorm",
                        new RmsNorm(config.hiddenSize(), config.rmsNormEps()));
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        // A scope per layer: without it a forward pass holds every layer's intermediates until the
        // whole model returns (at an evaluation batch of 64 x 128 on a 0.5B model, about a GB a
        // layer). Under autograd the graph keeps what backward needs; the rest is freed here.
        return Scopes.run(inputs, in -> layer(ps, in, training, params));
    }

    private NDList layer(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray hidden = inputs.head();
        NDList attnIn =
                new NDList(inputLayernorm.forward(ps, new NDList(hidden), training, params).head());
        attnIn.addAll(inputs.subNDList(1));
        NDList attn = selfAttn.forward(ps, attnIn, training, params);
        hidden = hidden.add(attn.get(0));
        NDArray normed =
                postAttentionLayernorm.forward(ps, new NDList(hidden), training, params).head();
        hidden = hidden.add(mlp.forward(ps, new NDList(normed), training, params).head());
        return new NDList(hidden, attn.get(1), attn.get(2));
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape h = new Shape(1, 1, config.hiddenSize());
        selfAttn.initialize(manager, dataType, inputShapes);
        mlp.initialize(manager, dataType, h);
        inputLayernorm.initialize(manager, dataType, h);
        postAttentionLayernorm.initialize(manager, dataType, h);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return selfAttn.getOutputShapes(inputShapes);
    }
}
