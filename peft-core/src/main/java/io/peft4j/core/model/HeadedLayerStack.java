package io.peft4j.core.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * A {@link LayerStack} that is another stack, its body (a decoder, an encoder), with a head of its
 * own on top: a causal language model, a sequence classifier. Its layers are the body's, under the
 * body's child name; it embeds, and normalises after the last layer, as the body does. A model
 * class adds only its {@link #head}.
 */
public interface HeadedLayerStack extends LayerStack {

    /**
     * The stack under the head.
     *
     * @return the body
     */
    LayerStack body();

    /**
     * The body's child name in this model, which the body's layer paths are under.
     *
     * @return e.g. {@code model} or {@code bert}
     */
    String bodyName();

    /**
     * @return the body's number of layers
     */
    @Override
    default int numLayers() {
        return body().numLayers();
    }

    /**
     * @param index layer index
     * @return the body's block in that slot
     */
    @Override
    default Block layer(int index) {
        return body().layer(index);
    }

    /**
     * @param index layer index
     * @return the body's path of the layer under {@link #bodyName()}, e.g. {@code model.layers.3}
     */
    @Override
    default String layerPath(int index) {
        return bodyName() + "." + body().layerPath(index);
    }

    /**
     * @return the body's hidden width
     */
    @Override
    default int hiddenSize() {
        return body().hiddenSize();
    }

    /**
     * The body's embedding and context.
     *
     * @param ps parameter store
     * @param inputs the model's inputs
     * @param training whether this is a training pass
     * @param params passed to children unchanged
     * @return {@code [hidden, context...]}
     */
    @Override
    default NDList embed(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        return body().embed(ps, inputs, training, params);
    }

    /**
     * The body's final norm.
     *
     * @param ps parameter store
     * @param hidden (B, T, hidden)
     * @param training whether this is a training pass
     * @param params passed to children unchanged
     * @return normalised hidden state
     */
    @Override
    default NDArray finalNorm(
            ParameterStore ps, NDArray hidden, boolean training, PairList<String, Object> params) {
        return body().finalNorm(ps, hidden, training, params);
    }
}
