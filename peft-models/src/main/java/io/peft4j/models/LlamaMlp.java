package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * SwiGLU feed-forward ({@code mlp}): {@code down_proj(silu(gate_proj(x)) * up_proj(x))}. Children:
 * {@code gate_proj}, {@code up_proj}, {@code down_proj} (DJL Linear).
 */
public final class LlamaMlp extends AbstractBlock {

    private final LlamaConfig config;
    private Block gateProj;
    private Block upProj;
    private Block downProj;

    /**
     * @param config model configuration
     */
    public LlamaMlp(LlamaConfig config) {
        this.config = config;
        gateProj =
                addChildBlock(
                        "gate_proj",
                        LlamaAttention.linear(config.intermediateSize(), config.mlpBias()));
        upProj =
                addChildBlock(
                        "up_proj",
                        LlamaAttention.linear(config.intermediateSize(), config.mlpBias()));
        downProj =
                addChildBlock(
                        "down_proj", LlamaAttention.linear(config.hiddenSize(), config.mlpBias()));
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDList x = new NDList(inputs.head());
        NDArray gate = gateProj.forward(ps, x, training, params).head();
        NDArray up = upProj.forward(ps, x, training, params).head();
        NDArray activated = gate.mul(Activation.sigmoid(gate)).mul(up);
        return downProj.forward(ps, new NDList(activated), training, params);
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        gateProj.initialize(manager, dataType, new Shape(1, config.hiddenSize()));
        upProj.initialize(manager, dataType, new Shape(1, config.hiddenSize()));
        downProj.initialize(manager, dataType, new Shape(1, config.intermediateSize()));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }
}
