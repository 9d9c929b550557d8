package io.peft4j.shadow;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.nn.ParameterList;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.Selection;
import io.peft4j.core.tree.AbstractAdapterWrapper;
import java.util.List;
import java.util.TreeSet;

/**
 * Stands in for base layer {@code index} of a {@link io.peft4j.core.model.LayerStack}. Layer 0 runs
 * the shadow network once on its input (the embeddings) and runs the base layer untouched; layer
 * {@code i >= 1} injects the shadow state into its input and, unless it is the last layer, updates
 * the state from its output. With adapters disabled (or none of this model's shadow adapters
 * selected) it is exactly the base layer.
 *
 * <p>The last layer's update is not computed: its result is used by nothing (as in the reference,
 * whose last update feeds no output), so its tensors exist (and are saved) but get zero gradients.
 */
final class ShadowLayer extends AbstractAdapterWrapper {

    private final int index;
    private final ShadowHub hub;

    ShadowLayer(Block base, int index, ShadowHub hub) {
        super(base, "base_layer");
        this.index = index;
        this.hub = hub;
    }

    int index() {
        return index;
    }

    ShadowHub hub() {
        return hub;
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        if (training) {
            hub.runtime.beforeTrainingForward(); // keeps the base frozen under DJL's Trainer
        }
        Selection selection = hub.runtime.current();
        List<String> names = hub.running(selection);
        if (names.isEmpty()) {
            if (index == 0) {
                hub.endFrame();
            }
            return baseLayer().forward(ps, inputs, training, params);
        }
        NDArray hidden = inputs.head();
        NDList context = inputs.subNDList(1);
        AdapterRuntime.checkPerSample(selection, hidden.getShape().get(0), training);
        if (index == 0) {
            hub.begin(ps, hidden, context, training, names);
            return baseLayer().forward(ps, inputs, training, params);
        }
        ShadowHub.Frame frame = hub.frame();
        if (frame == null || !frame.state.keySet().containsAll(names)) {
            throw new IllegalStateException(
                    "ShadowPEFT state for "
                            + names
                            + " is missing at layer "
                            + index
                            + ": layer 0 did not run on this thread in this forward; run the whole model, not a single layer");
        }
        int k = index - 1;
        NDArray h = hidden;
        if (!selection.isPerSample()) {
            String name = names.get(0);
            h =
                    h.add(
                            hub.adapters
                                    .get(name)
                                    .injection(ps, k, hidden, frame.state.get(name), training));
        } else {
            for (String name : names) {
                NDArray delta =
                        hub.adapters
                                .get(name)
                                .injection(ps, k, hidden, frame.state.get(name), training);
                h = h.add(delta.mul(selection.mask(name, hidden)));
            }
        }
        NDList in = new NDList(h);
        in.addAll(context);
        NDList out = baseLayer().forward(ps, in, training, params);
        if (index == hub.stack.numLayers() - 1) {
            frame.state.clear();
            hub.endFrame();
            return out;
        }
        NDArray hOut = out.head();
        for (String name : names) {
            frame.state.put(
                    name,
                    hub.adapters.get(name).update(ps, k, hOut, frame.state.get(name), training));
        }
        return out;
    }

    /**
     * The wrapper's own parameters and, on layer 0 only (so each appears once in the model), every
     * shadow adapter's trained tensors under {@code shadow_<adapter>.<file key>}. The shadow's
     * tensors are held by the hub, not by a block, and DJL's {@code Trainer} finds what to update
     * (and checks the gradients) through the block's parameters: without this, {@code
     * EasyTrain.fit} would see nothing to train.
     */
    @Override
    public ParameterList getDirectParameters() {
        ParameterList list = super.getDirectParameters();
        if (index != 0) {
            return list;
        }
        for (String name : new TreeSet<>(hub.adapters.keySet())) {
            ShadowWeights w = hub.adapters.get(name);
            if (w != null) {
                w.parameters().forEach((k, p) -> list.add("shadow_" + name + "." + k, p));
            }
        }
        return list;
    }

    @Override
    public String toString() {
        return "ShadowLayer("
                + index
                + ", "
                + baseLayer().getClass().getSimpleName()
                + ", adapters="
                + hub.adapters.keySet()
                + ")";
    }
}
