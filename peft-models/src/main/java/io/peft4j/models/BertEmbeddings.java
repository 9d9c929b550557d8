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

/**
 * BERT's input embeddings ({@code embeddings}): {@code LayerNorm(word + position + token_type)}.
 * Children {@code word_embeddings}, {@code position_embeddings}, {@code token_type_embeddings}
 * ({@link EmbeddingBlock}) and {@code LayerNorm} ({@link HfLayerNorm}).
 *
 * <p>Input {@code [input_ids (B,T), token_type_ids (B,T)?]} (types default to 0); positions are
 * 0..T-1. Output {@code [(B,T,H)]}.
 */
public final class BertEmbeddings extends AbstractBlock {

    private final BertConfig config;
    private Block wordEmbeddings;
    private Block positionEmbeddings;
    private Block tokenTypeEmbeddings;
    private Block layerNorm;

    /**
     * @param config model configuration
     */
    public BertEmbeddings(BertConfig config) {
        this.config = config;
        wordEmbeddings =
                addChildBlock(
                        "word_embeddings",
                        new EmbeddingBlock(config.vocabSize(), config.hiddenSize()));
        positionEmbeddings =
                addChildBlock(
                        "position_embeddings",
                        new EmbeddingBlock(config.maxPositionEmbeddings(), config.hiddenSize()));
        tokenTypeEmbeddings =
                addChildBlock(
                        "token_type_embeddings",
                        new EmbeddingBlock(config.typeVocabSize(), config.hiddenSize()));
        layerNorm =
                addChildBlock(
                        "LayerNorm", new HfLayerNorm(config.hiddenSize(), config.layerNormEps()));
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray ids = inputs.get(0);
        long len = ids.getShape().get(1);
        Preconditions.checkArgument(
                len <= config.maxPositionEmbeddings(),
                "sequence length %s exceeds max_position_embeddings %s",
                len,
                config.maxPositionEmbeddings());
        NDManager manager = ids.getManager();
        NDArray types =
                inputs.size() > 1 ? inputs.get(1) : manager.zeros(ids.getShape(), DataType.INT64);
        NDArray positions =
                manager.arange(0, Math.toIntExact(len), 1, DataType.INT64).reshape(1, len);
        NDArray sum =
                wordEmbeddings
                        .forward(ps, new NDList(ids), training, params)
                        .head()
                        .add(
                                tokenTypeEmbeddings
                                        .forward(ps, new NDList(types), training, params)
                                        .head())
                        .add(
                                positionEmbeddings
                                        .forward(ps, new NDList(positions), training, params)
                                        .head());
        NDArray normed = layerNorm.forward(ps, new NDList(sum), training, params).head();
        return new NDList(BertLayer.dropout(normed, config.hiddenDropoutProb(), training));
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape ids = inputShapes[0];
        wordEmbeddings.initialize(manager, dataType, ids);
        positionEmbeddings.initialize(manager, dataType, ids);
        tokenTypeEmbeddings.initialize(manager, dataType, ids);
        layerNorm.initialize(manager, dataType, ids.add(config.hiddenSize()));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0].add(config.hiddenSize())};
    }
}
