package io.peft4j.core.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * A transformer as a stack: embeddings, then layers, then a final norm, then a head. Methods that
 * work between layers (reading or changing hidden states, replacing whole layers) use this instead
 * of a model's concrete class. peft-models' LLaMA and BERT models implement it, and their own
 * {@code forward} is {@link #forwardWith} with no hook, so the two paths cannot drift.
 *
 * <p>Layers take {@code [hidden, context...]} and return {@code [hidden, ...]}; the context (mask
 * bias, rotary tables) comes from {@link #embed} and is the same for every layer.
 */
public interface LayerStack extends Block {

    /**
     * @return number of layers
     */
    int numLayers();

    /**
     * @param index layer index
     * @return the block currently in that slot (a wrapper if one was put there)
     */
    Block layer(int index);

    /**
     * @param index layer index
     * @return the layer's Hugging Face path, e.g. {@code model.layers.3}
     */
    String layerPath(int index);

    /**
     * Whether a recorded (training) forward pass checkpoints its layers: keeps only their inputs
     * and recomputes their activations during backward ({@link ActivationCheckpointing}).
     *
     * @return false unless the model turned it on
     */
    default boolean gradientCheckpointing() {
        return false;
    }

    /**
     * @return width of the hidden state
     */
    int hiddenSize();

    /**
     * Embeds the inputs and builds what every layer needs.
     *
     * @param ps parameter store
     * @param inputs the model's inputs (see the implementing class)
     * @param training whether this is a training pass
     * @param params passed to children unchanged
     * @return {@code [hidden, context...]}
     */
    NDList embed(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params);

    /**
     * Runs one layer.
     *
     * @param index layer index
     * @param ps parameter store
     * @param hidden (B, T, hidden) input
     * @param context the context part of {@link #embed}'s result
     * @param training whether this is a training pass
     * @param params passed to the layer unchanged
     * @return the layer's output hidden state
     */
    default NDArray forwardLayer(
            int index,
            ParameterStore ps,
            NDArray hidden,
            NDList context,
            boolean training,
            PairList<String, Object> params) {
        NDList in = new NDList(hidden);
        in.addAll(layerContext(index, context));
        return layer(index).forward(ps, in, training, params).head();
    }

    /**
     * What {@link #forwardLayer} passes to layer {@code index} after the hidden state. By default
     * the whole context, the same for every layer; a stack whose layers see it differently (only
     * the first, as in a DJL {@code SequentialBlock}) says so here.
     *
     * @param index layer index
     * @param context the context part of {@link #embed}'s result
     * @return the inputs that follow the hidden state into that layer
     */
    default NDList layerContext(int index, NDList context) {
        return context;
    }

    /**
     * The norm after the last layer. By default none: the identity, as in post-LN encoders such as
     * BERT, whose layers end in their own norms.
     *
     * @param ps parameter store
     * @param hidden (B, T, hidden)
     * @param training whether this is a training pass
     * @param params passed to children unchanged
     * @return normalised hidden state
     */
    default NDArray finalNorm(
            ParameterStore ps, NDArray hidden, boolean training, PairList<String, Object> params) {
        return hidden;
    }

    /**
     * The head on top of the final hidden state.
     *
     * @param ps parameter store
     * @param hidden (B, T, hidden) after the final norm
     * @param training whether this is a training pass
     * @param params passed to children unchanged
     * @return the model's outputs (see the implementing class)
     */
    NDList head(
            ParameterStore ps, NDArray hidden, boolean training, PairList<String, Object> params);

    /**
     * The whole forward pass with a hook between layers. Intermediates attach to the inputs'
     * manager; call it inside a scope you close, or use the block's {@code forward}, which scopes.
     *
     * @param ps parameter store
     * @param inputs the model's inputs
     * @param training whether this is a training pass
     * @param params passed to children unchanged
     * @param hook called between layers; null for none
     * @return the head's outputs
     */
    default NDList forwardWith(
            ParameterStore ps,
            NDList inputs,
            boolean training,
            PairList<String, Object> params,
            LayerHook hook) {
        return head(ps, forwardHidden(ps, inputs, training, params, hook), training, params);
    }

    /**
     * {@link #forwardWith} without the head: the final hidden state, after the final norm. A loss
     * over a large vocabulary applies the head to a few positions at a time from here instead of
     * materialising every position's logits. Intermediates attach as in {@link #forwardWith}.
     *
     * @param ps parameter store
     * @param inputs the model's inputs
     * @param training whether this is a training pass
     * @param params passed to children unchanged
     * @param hook called between layers; null for none
     * @return (B, T, hidden) after {@link #finalNorm}
     */
    default NDArray forwardHidden(
            ParameterStore ps,
            NDList inputs,
            boolean training,
            PairList<String, Object> params,
            LayerHook hook) {
        NDList embedded = embed(ps, inputs, training, params);
        NDArray hidden = embedded.head();
        NDList context = embedded.subNDList(1);
        if (hook == null
                && numLayers() > 0
                && gradientCheckpointing()
                && ActivationCheckpointing.recording()) {
            return finalNorm(
                    ps,
                    ActivationCheckpointing.forwardLayers(
                            this, ps, hidden, context, training, params),
                    training,
                    params);
        }
        for (int i = 0; i < numLayers(); i++) {
            if (hook != null) {
                hidden = hook.apply(i, hidden);
            }
            hidden = forwardLayer(i, ps, hidden, context, training, params);
        }
        if (hook != null) {
            hidden = hook.apply(numLayers(), hidden);
        }
        return finalNorm(ps, hidden, training, params);
    }
}
