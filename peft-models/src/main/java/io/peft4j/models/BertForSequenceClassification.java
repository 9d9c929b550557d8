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
import io.peft4j.core.model.HeadedLayerStack;
import java.util.Map;

/**
 * BERT with a classification head on the pooled first token ({@code
 * BertForSequenceClassification}): children {@code bert} ({@link BertModel}, always with a pooler)
 * and {@code classifier} (DJL Linear to {@code num_labels}).
 *
 * <p>Input as {@link BertModel}; output {@code [logits (B, num_labels)]}.
 */
public final class BertForSequenceClassification extends AbstractBlock implements HeadedLayerStack {

    private final BertConfig config;
    private Block bert;
    private Block classifier;

    /**
     * @param config model configuration (the pooler is added whatever addPoolingLayer says)
     */
    public BertForSequenceClassification(BertConfig config) {
        this.config = config.toBuilder().addPoolingLayer(true).build();
        bert = addChildBlock("bert", new BertModel(this.config));
        classifier = addChildBlock("classifier", BertLayer.linear(config.numLabels()));
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
     * @return every parameter by Hugging Face name ({@code bert.encoder.layer.0...}, {@code
     *     classifier.weight})
     */
    public Map<String, Parameter> namedParameters() {
        return ModulePaths.namedParameters(this);
    }

    /**
     * @return the encoder under the head (child {@code bert}, with its pooler)
     */
    @Override
    public BertModel body() {
        return (BertModel) bert;
    }

    /**
     * @return {@code bert}
     */
    @Override
    public String bodyName() {
        return "bert";
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        return Scopes.run(inputs, in -> forwardWith(ps, in, training, params, null));
    }

    /**
     * @return {@code [logits]} = classifier(dropout(pooler(hidden)))
     */
    @Override
    public NDList head(
            ParameterStore ps, NDArray hidden, boolean training, PairList<String, Object> params) {
        NDArray pooled =
                BertLayer.dropout(
                        body().pool(ps, hidden, training, params),
                        config.hiddenDropoutProb(),
                        training);
        return classifier.forward(ps, new NDList(pooled), training, params);
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        bert.initialize(manager, dataType, inputShapes);
        classifier.initialize(manager, dataType, new Shape(1, config.hiddenSize()));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {new Shape(inputShapes[0].get(0), config.numLabels())};
    }
}
