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
import com.google.common.base.Preconditions;
import io.peft4j.core.model.LayerStack;
import java.util.ArrayList;
import java.util.List;

/**
 * The LLaMA-family decoder body ({@code model}): children {@code embed_tokens} ({@link
 * EmbeddingBlock}), {@code layers} ({@link LayerList} of {@link LlamaDecoderLayer}) and {@code
 * norm} ({@link RmsNorm}).
 *
 * <p>Input {@code [input_ids (B,T) int64, attention_mask (B,T)?]} (mask: 1 real, 0 padding; left or
 * right padding). Output {@code [last_hidden_state (B,T,H)]}. With a mask, positions count real
 * tokens only ({@code cumsum(mask) - 1}), so a left-padded row gives the same outputs at its real
 * positions as the same row without padding.
 */
public final class LlamaModel extends AbstractBlock implements LayerStack {

    private final LlamaConfig config;
    private Block embedTokens;
    private Block layers;
    private Block norm;

    /**
     * @param config model configuration
     */
    public LlamaModel(LlamaConfig config) {
        this.config = config;
        embedTokens =
                addChildBlock(
                        "embed_tokens",
                        new EmbeddingBlock(config.vocabSize(), config.hiddenSize()));
        List<Block> list = new ArrayList<>();
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            list.add(new LlamaDecoderLayer(config));
        }
        layers = addChildBlock("layers", new LayerList(list));
        norm = addChildBlock("norm", new RmsNorm(config.hiddenSize(), config.rmsNormEps()));
    }

    /**
     * @return every parameter by Hugging Face name, relative to this block ({@code layers.0...})
     */
    public java.util.Map<String, ai.djl.nn.Parameter> namedParameters() {
        return ModulePaths.namedParameters(this);
    }

    /**
     * @return the configuration this model was built from
     */
    public LlamaConfig config() {
        return config;
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        return Scopes.run(inputs, in -> forwardWith(ps, in, training, params, null));
    }

    @Override
    public int numLayers() {
        return ((LayerList) layers).size();
    }

    @Override
    public Block layer(int index) {
        return ((LayerList) layers).get(index);
    }

    @Override
    public String layerPath(int index) {
        return "layers." + index;
    }

    @Override
    public int hiddenSize() {
        return config.hiddenSize();
    }

    @Override
    public NDList embed(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        return embed(
                ps, inputs.get(0), inputs.size() > 1 ? inputs.get(1) : null, 0, training, params);
    }

    /**
     * Embeds new tokens that follow {@code past} cached ones.
     *
     * @param keyMask (B, past + T) mask over cached and new tokens, or null (no padding)
     * @return {@code [hidden, bias, cos, sin]}
     */
    NDList embed(
            ParameterStore ps,
            NDArray ids,
            NDArray keyMask,
            long past,
            boolean training,
            PairList<String, Object> params) {
        Shape s = ids.getShape();
        Preconditions.checkArgument(
                s.dimension() == 2, "input_ids must be (batch, length), got shape %s", s);
        long len = s.get(1);
        if (keyMask != null) {
            Preconditions.checkArgument(
                    keyMask.getShape().equals(new Shape(s.get(0), past + len)),
                    "attention_mask must have shape (%s, %s) (cached + new tokens), got %s",
                    s.get(0),
                    past + len,
                    keyMask.getShape());
        }
        NDArray hidden = embedTokens.forward(ps, new NDList(ids), training, params).head();
        NDManager manager = ids.getManager();
        NDArray positions;
        if (keyMask != null) {
            positions =
                    keyMask.toType(DataType.INT64, false)
                            .cumSum(1)
                            .sub(1)
                            .maximum(0)
                            .get(":, " + past + ":");
        } else {
            positions =
                    manager.arange(
                                    Math.toIntExact(past),
                                    Math.toIntExact(past + len),
                                    1,
                                    DataType.INT64)
                            .reshape(1, len);
        }
        DataType type = hidden.getDataType();
        NDList cosSin =
                Rope.cosSin(
                        positions,
                        config.headDim(),
                        config.ropeTheta(),
                        config.ropeScalingFactor(),
                        type);
        NDArray bias =
                Attention.causalBias(
                        manager, keyMask, len, past + len, config.slidingWindow(), type);
        return new NDList(hidden, bias, cosSin.get(0), cosSin.get(1));
    }

    @Override
    public NDArray finalNorm(
            ParameterStore ps, NDArray hidden, boolean training, PairList<String, Object> params) {
        return norm.forward(ps, new NDList(hidden), training, params).head();
    }

    /** The base model has no head: returns {@code [hidden]}. */
    @Override
    public NDList head(
            ParameterStore ps, NDArray hidden, boolean training, PairList<String, Object> params) {
        return new NDList(hidden);
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        long batch = inputShapes[0].get(0);
        long len = inputShapes[0].get(1);
        long hd = config.headDim();
        embedTokens.initialize(manager, dataType, inputShapes[0]);
        layers.initialize(
                manager,
                dataType,
                new Shape(batch, len, config.hiddenSize()),
                new Shape(batch, 1, len, len),
                new Shape(batch, 1, len, hd),
                new Shape(batch, 1, len, hd));
        norm.initialize(manager, dataType, new Shape(batch, len, config.hiddenSize()));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0].add(config.hiddenSize())};
    }
}
