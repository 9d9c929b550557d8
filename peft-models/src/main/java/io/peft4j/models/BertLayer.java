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
import io.peft4j.core.ops.InvertedDropout;
import io.peft4j.core.ops.TransformerOps;

/**
 * One post-LN BERT encoder layer ({@code encoder.layer.i}), as in Hugging Face:
 *
 * <pre>
 * attention.self      query, key, value          -> softmax(q k^T / sqrt(d) + mask) v
 * attention.output    dense, LayerNorm           -> LN(dense(ctx) + h)
 * intermediate        dense                      -> gelu(dense(a))      (exact erf GELU)
 * output              dense, LayerNorm           -> LN(dense(i) + a)
 * </pre>
 *
 * Input {@code [hidden (B,T,H), bias (B,1,1,T)]}; output {@code [hidden]}. Dropout only in training
 * passes.
 */
public final class BertLayer extends AbstractBlock {

    private final BertConfig config;
    private Block attention;
    private Block intermediate;
    private Block output;

    /**
     * @param config model configuration
     */
    public BertLayer(BertConfig config) {
        this.config = config;
        attention = addChildBlock("attention", new AttentionBlock(config));
        intermediate = addChildBlock("intermediate", new Intermediate(config));
        output = addChildBlock("output", new AddNorm(config, config.intermediateSize()));
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        // A scope per layer, so a forward pass does not hold every layer's intermediates at once.
        return Scopes.run(
                inputs,
                in -> {
                    NDArray attended = attention.forward(ps, in, training, params).head();
                    NDArray inner =
                            intermediate.forward(ps, new NDList(attended), training, params).head();
                    return output.forward(ps, new NDList(inner, attended), training, params);
                });
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape h = new Shape(1, 1, config.hiddenSize());
        attention.initialize(manager, dataType, inputShapes);
        intermediate.initialize(manager, dataType, h);
        output.initialize(manager, dataType, new Shape(1, 1, config.intermediateSize()), h);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    static Block linear(long units) {
        return Linear.builder().setUnits(units).optBias(true).build();
    }

    static NDArray dropout(NDArray x, double p, boolean training) {
        return InvertedDropout.apply(x, (float) p, training);
    }

    /** {@code attention}: children {@code self} and {@code output}. Input [hidden, bias]. */
    static final class AttentionBlock extends AbstractBlock {
        private final BertConfig config;
        private Block self;
        private Block output;

        AttentionBlock(BertConfig config) {
            this.config = config;
            self = addChildBlock("self", new SelfAttention(config));
            output = addChildBlock("output", new AddNorm(config, config.hiddenSize()));
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray context = self.forward(ps, inputs, training, params).head();
            return output.forward(ps, new NDList(context, inputs.head()), training, params);
        }

        @Override
        protected void initializeChildBlocks(
                NDManager manager, DataType dataType, Shape... inputShapes) {
            Shape h = new Shape(1, 1, config.hiddenSize());
            self.initialize(manager, dataType, inputShapes);
            output.initialize(manager, dataType, h, h);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {inputShapes[0]};
        }
    }

    /** {@code attention.self}: children {@code query}, {@code key}, {@code value}. */
    static final class SelfAttention extends AbstractBlock {
        private final BertConfig config;
        private Block query;
        private Block key;
        private Block value;

        SelfAttention(BertConfig config) {
            this.config = config;
            query = addChildBlock("query", linear(config.hiddenSize()));
            key = addChildBlock("key", linear(config.hiddenSize()));
            value = addChildBlock("value", linear(config.hiddenSize()));
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray hidden = inputs.get(0);
            NDArray bias = inputs.get(1);
            long batch = hidden.getShape().get(0);
            long len = hidden.getShape().get(1);
            NDList in = new NDList(hidden);
            NDArray q = heads(query.forward(ps, in, training, params).head(), batch, len);
            NDArray k = heads(key.forward(ps, in, training, params).head(), batch, len);
            NDArray v = heads(value.forward(ps, in, training, params).head(), batch, len);
            NDArray context =
                    Attention.scaledDotProduct(
                            q, k, v, bias, (float) config.attentionProbsDropoutProb(), training);
            return new NDList(
                    context.transpose(0, 2, 1, 3).reshape(batch, len, config.hiddenSize()));
        }

        private NDArray heads(NDArray x, long batch, long len) {
            return x.reshape(batch, len, config.numAttentionHeads(), config.headDim())
                    .transpose(0, 2, 1, 3);
        }

        @Override
        protected void initializeChildBlocks(
                NDManager manager, DataType dataType, Shape... inputShapes) {
            Shape h = new Shape(1, config.hiddenSize());
            query.initialize(manager, dataType, h);
            key.initialize(manager, dataType, h);
            value.initialize(manager, dataType, h);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {inputShapes[0]};
        }
    }

    /**
     * {@code attention.output} and {@code output}: children {@code dense}, {@code LayerNorm}. Input
     * [x, residual]; output LN(dropout(dense(x)) + residual).
     */
    static final class AddNorm extends AbstractBlock {
        private final BertConfig config;
        private final long inFeatures;
        private Block dense;
        private Block layerNorm;

        AddNorm(BertConfig config, long inFeatures) {
            this.config = config;
            this.inFeatures = inFeatures;
            dense = addChildBlock("dense", linear(config.hiddenSize()));
            layerNorm =
                    addChildBlock(
                            "LayerNorm",
                            new HfLayerNorm(config.hiddenSize(), config.layerNormEps()));
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray projected =
                    dense.forward(ps, new NDList(inputs.get(0)), training, params).head();
            projected = dropout(projected, config.hiddenDropoutProb(), training);
            return layerNorm.forward(
                    ps, new NDList(projected.add(inputs.get(1))), training, params);
        }

        @Override
        protected void initializeChildBlocks(
                NDManager manager, DataType dataType, Shape... inputShapes) {
            dense.initialize(manager, dataType, new Shape(1, inFeatures));
            layerNorm.initialize(manager, dataType, new Shape(1, config.hiddenSize()));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {inputShapes[1]};
        }
    }

    /** {@code intermediate}: child {@code dense}; gelu(dense(x)) with the exact (erf) GELU. */
    static final class Intermediate extends AbstractBlock {
        private final BertConfig config;
        private Block dense;

        Intermediate(BertConfig config) {
            this.config = config;
            dense = addChildBlock("dense", linear(config.intermediateSize()));
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray x = dense.forward(ps, inputs, training, params).head();
            return new NDList(gelu(x));
        }

        @Override
        protected void initializeChildBlocks(
                NDManager manager, DataType dataType, Shape... inputShapes) {
            dense.initialize(manager, dataType, new Shape(1, config.hiddenSize()));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {
                inputShapes[0]
                        .slice(0, inputShapes[0].dimension() - 1)
                        .add(config.intermediateSize())
            };
        }
    }

    /** Exact GELU ({@link TransformerOps#gelu}). */
    static NDArray gelu(NDArray x) {
        return TransformerOps.gelu(x);
    }
}
