package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;
import io.peft4j.core.model.LayerStack;
import io.peft4j.core.tree.DelegatingBlock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A BERT-family encoder ({@code BertModel}): children {@code embeddings} ({@link BertEmbeddings}),
 * {@code encoder} (whose child {@code layer} lists the {@link BertLayer}s) and, when {@link
 * BertConfig#addPoolingLayer()}, {@code pooler} (child {@code dense}).
 *
 * <p>Input {@code [input_ids (B,T) int64, attention_mask (B,T)?, token_type_ids (B,T)?]} (mask 1 =
 * real, 0 = padding; padded keys get no attention). Output {@code [last_hidden_state (B,T,H)]} plus
 * {@code pooler_output (B,H)} when there is a pooler. Sentence embeddings: {@link Pooling#mean}.
 */
public final class BertModel extends AbstractBlock implements LayerStack {

    private final BertConfig config;
    private Block embeddings;
    private Block encoder;
    private Block pooler;

    /**
     * @param config model configuration
     */
    public BertModel(BertConfig config) {
        this.config = config;
        embeddings = addChildBlock("embeddings", new BertEmbeddings(config));
        encoder = addChildBlock("encoder", new Encoder(config));
        if (config.addPoolingLayer()) {
            pooler = addChildBlock("pooler", new Pooler(config));
        }
        setInitializer(
                new NormalInitializer((float) config.initializerRange()), Parameter.Type.WEIGHT);
    }

    /**
     * @return the configuration this model was built from
     */
    public BertConfig config() {
        return config;
    }

    /**
     * @return every parameter by Hugging Face name ({@code
     *     encoder.layer.0.attention.self.query.weight})
     */
    public Map<String, Parameter> namedParameters() {
        return ModulePaths.namedParameters(this);
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        return Scopes.run(inputs, in -> forwardWith(ps, in, training, params, null));
    }

    @Override
    public int numLayers() {
        return ((Encoder) encoder).layers().size();
    }

    @Override
    public Block layer(int index) {
        return ((Encoder) encoder).layers().get(index);
    }

    @Override
    public String layerPath(int index) {
        return "encoder.layer." + index;
    }

    @Override
    public int hiddenSize() {
        return config.hiddenSize();
    }

    /**
     * @return {@code [hidden, bias]} where bias (B|1,1,1,T) masks padded keys
     */
    @Override
    public NDList embed(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray ids = inputs.get(0);
        NDArray mask = inputs.size() > 1 ? inputs.get(1) : null;
        if (mask != null && !mask.getShape().equals(ids.getShape())) {
            throw new IllegalArgumentException(
                    "attention_mask must have the shape of input_ids "
                            + ids.getShape()
                            + ", got "
                            + mask.getShape());
        }
        NDList embIn = new NDList(ids);
        if (inputs.size() > 2) {
            embIn.add(inputs.get(2));
        }
        NDArray hidden = embeddings.forward(ps, embIn, training, params).head();
        DataType type = hidden.getDataType();
        NDArray bias =
                mask != null
                        ? Attention.paddingBias(mask, type)
                        : Attention.noPaddingBias(ids.getManager(), ids.getShape().get(1), type);
        return new NDList(hidden, bias);
    }

    /**
     * @return {@code [last_hidden_state]} or {@code [last_hidden_state, pooler_output]}
     */
    @Override
    public NDList head(
            ParameterStore ps, NDArray hidden, boolean training, PairList<String, Object> params) {
        NDList out = new NDList(hidden);
        if (pooler != null) {
            out.add(pool(ps, hidden, training, params));
        }
        return out;
    }

    /** tanh(pooler.dense(hidden[:, 0])). */
    NDArray pool(
            ParameterStore ps, NDArray hidden, boolean training, PairList<String, Object> params) {
        if (pooler == null) {
            throw new IllegalStateException(
                    "this BertModel has no pooler (add_pooling_layer=false)");
        }
        return pooler.forward(ps, new NDList(hidden), training, params).head();
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape ids = inputShapes[0];
        Shape h = ids.add(config.hiddenSize());
        embeddings.initialize(manager, dataType, ids);
        encoder.initialize(manager, dataType, h, new Shape(ids.get(0), 1, 1, ids.get(1)));
        if (pooler != null) {
            pooler.initialize(manager, dataType, h);
        }
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape ids = inputShapes[0];
        Shape h = ids.add(config.hiddenSize());
        return pooler == null
                ? new Shape[] {h}
                : new Shape[] {h, new Shape(ids.get(0), config.hiddenSize())};
    }

    /** {@code encoder}: child {@code layer}, the list of layers, which does its work. */
    static final class Encoder extends DelegatingBlock {
        private final Block layer;

        Encoder(BertConfig config) {
            List<Block> list = new ArrayList<>();
            for (int i = 0; i < config.numHiddenLayers(); i++) {
                list.add(new BertLayer(config));
            }
            layer = addChildBlock("layer", new LayerList(list));
        }

        LayerList layers() {
            return (LayerList) layer;
        }

        @Override
        protected Block delegate() {
            return layer;
        }
    }

    /** {@code pooler}: child {@code dense}; tanh(dense(hidden[:, 0])). */
    static final class Pooler extends AbstractBlock {
        private final BertConfig config;
        private Block dense;

        Pooler(BertConfig config) {
            this.config = config;
            dense = addChildBlock("dense", BertLayer.linear(config.hiddenSize()));
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray first = inputs.head().get(":, 0, :");
            return new NDList(dense.forward(ps, new NDList(first), training, params).head().tanh());
        }

        @Override
        protected void initializeChildBlocks(
                NDManager manager, DataType dataType, Shape... inputShapes) {
            dense.initialize(manager, dataType, new Shape(1, config.hiddenSize()));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {new Shape(inputShapes[0].get(0), config.hiddenSize())};
        }
    }
}
