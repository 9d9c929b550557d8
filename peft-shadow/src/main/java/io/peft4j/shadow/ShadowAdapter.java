package io.peft4j.shadow;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import io.peft4j.core.spi.AbstractAdapter;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterTensors;
import java.util.Collections;
import java.util.Map;

/** One named ShadowPEFT adapter: its shadow network, injection and update tensors. */
final class ShadowAdapter extends AbstractAdapter<ShadowConfig> {

    static final String MERGE_REASON =
            "ShadowPEFT adds a shadow network whose state flows between layers and is"
                    + " re-computed from each input; no change of the base weights reproduces it";

    private final ShadowHub hub;
    private final ShadowWeights weights;
    private final Map<String, Parameter> parameters;
    private boolean detached;

    /** An adapter of the resolved {@code config} (every automatic size filled in). */
    ShadowAdapter(
            AdapterContext ctx,
            ShadowConfig config,
            String name,
            ShadowHub hub,
            ShadowWeights weights) {
        super(ctx, config, name);
        this.hub = hub;
        this.weights = weights;
        this.parameters = Collections.unmodifiableMap(weights.parameters());
    }

    ShadowHub hub() {
        return hub;
    }

    ShadowWeights weights() {
        return weights;
    }

    @Override
    public Map<String, Parameter> parameters() {
        return parameters;
    }

    /** The DJL family's BatchNorm running statistics; empty for the other families. */
    @Override
    public Map<String, NDArray> frozenState() {
        return weights.state();
    }

    /** Said with a missing own head: files saved before the option used the base head. */
    private static final String OWN_HEAD_HINT =
            "the shadow's own classification head (shadow_head \"own\", the default);"
                    + " an adapter saved before that option existed used the base head: set \"shadow_head\": \"shared\" in its"
                    + " adapter_config.json";

    @Override
    public Map<String, AdapterTensors.Spec> tensorSpecs() {
        Map<String, AdapterTensors.Spec> specs =
                AdapterTensors.specsOf(parameters, frozenState(), "");
        if (weights.head != null) {
            specs.replaceAll(
                    (k, sp) ->
                            k.startsWith(ShadowHeadCopy.PREFIX)
                                    ? new AdapterTensors.Spec(
                                            sp.key(),
                                            sp.shape(),
                                            sp.maxElements(),
                                            sp.kind(),
                                            sp.required(),
                                            OWN_HEAD_HINT)
                                    : sp);
        }
        return specs;
    }

    @Override
    public void load(Map<String, NDArray> tensors) {
        if (weights.head != null && !tensors.containsKey(ShadowHeadCopy.PREFIX + "weight")) {
            throw new IllegalArgumentException(
                    "adapter '"
                            + name()
                            + "' (SHADOW) has no "
                            + ShadowHeadCopy.PREFIX
                            + "weight, "
                            + OWN_HEAD_HINT);
        }
        super.load(tensors);
    }

    @Override
    protected String describe() {
        return "adapter '"
                + name()
                + "' (SHADOW, "
                + config.numShadowLayers()
                + " shadow layers, hidden "
                + config.shadowHiddenSize()
                + ")";
    }

    /** The parameters and the DJL family's BatchNorm running statistics. */
    @Override
    protected void copyIn(Map<String, NDArray> tensors) {
        super.copyIn(tensors);
        frozenState().forEach((k, a) -> AdapterTensors.copy(tensors.get(k), a));
    }

    @Override
    public String mergeUnsupportedReason() {
        return MERGE_REASON;
    }

    @Override
    public void merge() {
        throw new UnsupportedOperationException(
                "Adapter '" + name() + "' (SHADOW) cannot be merged: " + MERGE_REASON);
    }

    @Override
    public void unmerge() {
        // never merged
    }

    @Override
    public boolean isMerged() {
        return false;
    }

    @Override
    public void detach() {
        if (detached) {
            return;
        }
        detached = true;
        hub.adapters.remove(name(), weights);
        weights.close();
        if (hub.adapters.isEmpty()) {
            for (ShadowLayer layer : hub.layers) {
                ctx.restore(layer);
            }
            hub.layers.clear();
            hub.clearHistories();
        }
    }
}
