package io.peft4j.core.spi;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.tree.AbstractAdapterWrapper;
import io.peft4j.core.tree.Modules;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A module wrapper that holds any number of named adapters, one entry each, and runs the ones the
 * {@link AdapterRuntime} selects (as peft's {@code LoraLayer} and its kin do). What is the same for
 * every such wrapper lives here: the entries by adapter name, and which of them a forward pass
 * runs: none when adapters are disabled, one for the whole batch, or one per sample of a mixed
 * batch; never one that is merged (the base module computes it then).
 *
 * <p>A method says what one adapter does to the whole batch ({@link #forwardWith}), how it is
 * blended into the samples of a mixed batch that use it ({@link #blendIn}), what an entry frees
 * when it leaves ({@link #release}), and, over an embedding, which base weight merging changes
 * ({@link #baseWeight}). Both get the call as one {@link LayerCall}; a method whose adapter adds a
 * term to the base output extends {@link AdditiveAdapterLayer} and says only what it adds. The
 * block registers an entry's {@link Entry#blockParameters()} while the entry is here. Entries come
 * and go through {@link AdapterLayers}, the adapter's side, so that a layer and the adapters that
 * use it always agree on who holds what.
 *
 * @param <E> the method's state of one adapter in one layer
 */
public abstract class AdapterLayer<E extends AdapterLayer.Entry> extends AbstractAdapterWrapper {

    /** One adapter's state in one layer; a method's entry type adds its tensors. */
    public abstract static class Entry {

        private boolean merged;

        /**
         * Whether the adapter is folded into the base weights here. A merged entry does not run in
         * forward: the base module already computes it.
         *
         * @return whether the adapter is merged here
         */
        public final boolean merged() {
            return merged;
        }

        /**
         * Records that the adapter was merged into (or taken out of) the base weights here.
         *
         * @param merged whether the adapter is now merged
         */
        public final void setMerged(boolean merged) {
            this.merged = merged;
        }

        /**
         * The tensors the layer registers as its own parameters while the entry is there (DJL's
         * parameter walks, and so the trainable count, reach them through the block). A tensor
         * shared by several layers is registered by one of them only.
         *
         * @return the parameters to register
         */
        public abstract List<Parameter> blockParameters();
    }

    private final AdapterRuntime runtime;
    private final Map<String, E> entries = new LinkedHashMap<>();
    private final Parameter baseWeight; // the base module's own "weight", or null
    private final Parameter baseBias; // its own "bias", or null

    /**
     * Wraps {@code base} as child block {@code base_layer}; forward consults {@code runtime}.
     *
     * @param base the module to wrap
     * @param runtime the switchboard forward consults
     */
    protected AdapterLayer(Block base, AdapterRuntime runtime) {
        this(base, "base_layer", runtime);
    }

    /**
     * Wraps {@code base} as child block {@code childName}; forward consults {@code runtime}.
     *
     * @param base the module to wrap
     * @param childName the child block name of {@code base}
     * @param runtime the switchboard forward consults
     */
    protected AdapterLayer(Block base, String childName, AdapterRuntime runtime) {
        super(base, childName);
        this.runtime = runtime;
        this.baseWeight = Modules.parameter(base, "weight");
        this.baseBias = Modules.parameter(base, "bias");
    }

    /** {@return names of the adapters in this module} */
    public Set<String> adapterNames() {
        return new LinkedHashSet<>(entries.keySet());
    }

    /**
     * The base module's weight that merging changes: by default its own {@code weight} parameter (a
     * Linear's); a layer over an embedding returns the table.
     *
     * @return the base weight
     */
    public Parameter baseWeight() {
        return baseWeight;
    }

    /**
     * For a layer over a Linear: its input features, the columns of the (out, in) {@link
     * #baseWeight()}.
     *
     * @return the base weight's dimension 1
     */
    public final long inFeatures() {
        return baseWeight().getArray().getShape().get(1);
    }

    /**
     * For a layer over a Linear: its output features, the rows of the (out, in) {@link
     * #baseWeight()}.
     *
     * @return the base weight's dimension 0
     */
    public final long outFeatures() {
        return baseWeight().getArray().getShape().get(0);
    }

    /**
     * The base module's own {@code bias} parameter (a Linear's), or {@code null} when it has none.
     *
     * @return the base bias, or {@code null}
     */
    public final Parameter baseBias() {
        return baseBias;
    }

    /**
     * Frees what an entry that leaves holds in this layer (its parameters are unregistered
     * already), and undoes what it did to the base module. Tensors shared with other layers stay
     * with their owner.
     *
     * @param entry the entry that leaves
     */
    protected abstract void release(E entry);

    /**
     * Adapter {@code adapter}'s entry here, or {@code null}.
     *
     * @param adapter the adapter's name
     * @return the entry, or {@code null}
     */
    protected final E entry(String adapter) {
        return entries.get(adapter);
    }

    /** {@return every adapter's entry here, in the order they were added (a read-only view)} */
    protected final Collection<E> entries() {
        return Collections.unmodifiableCollection(entries.values());
    }

    /** Whether any adapter is left here. */
    final boolean hasAdapters() {
        return !entries.isEmpty();
    }

    // Package-private: only AdapterLayers, the adapter's side, changes who is here.
    final void add(String adapter, E entry) {
        entries.put(adapter, entry);
        for (Parameter p : entry.blockParameters()) {
            addParameter(p);
        }
    }

    final void remove(String adapter) {
        E entry = entries.remove(adapter);
        if (entry != null) {
            for (Parameter p : entry.blockParameters()) {
                parameters.remove(p.getName());
            }
            release(entry);
        }
    }

    /** The entry that runs for {@code adapter}: {@code null} when it is not here or is merged. */
    private E running(String adapter) {
        E entry = entries.get(adapter);
        return entry == null || entry.merged() ? null : entry;
    }

    @Override
    protected final NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        if (training) {
            runtime.beforeTrainingForward();
        }
        LayerCall call = new LayerCall(baseLayer(), ps, inputs, training, params);
        Selection selection = runtime.current();
        if (selection.isNone() || entries.isEmpty()) {
            return call.baseOutput();
        }
        if (!selection.isPerSample()) {
            E entry = running(selection.single());
            return entry == null ? call.baseOutput() : forwardWith(entry, call);
        }
        NDList out = call.baseOutput();
        AdapterRuntime.checkPerSample(selection, call.input().getShape().get(0), training);
        NDArray y = out.head();
        // Each adapter once, over all of its samples: one mask per adapter, not per sample.
        for (String name : new LinkedHashSet<>(Arrays.asList(selection.perSample()))) {
            E entry = running(name);
            if (entry != null) {
                y = blendIn(entry, y, selection.mask(name, y), call);
            }
        }
        return call.withHead(y);
    }

    /**
     * The module's output with the adapter of {@code entry} on every sample. It may run the base
     * module ({@link LayerCall#baseOutput()}) and change its output, or compute the adapted module
     * in one go.
     *
     * @param entry the adapter's entry
     * @param call the forward call: inputs, parameter store, training flag, base module
     * @return the adapted module's output
     */
    protected abstract NDList forwardWith(E entry, LayerCall call);

    /**
     * {@code y} with the samples where {@code rowMask} is 1 given the output of the adapter of
     * {@code entry}; the other samples must keep their rows exactly, so that a mixed batch equals
     * the per-sample runs. The base module's own output is {@code call.baseOutput().head()}.
     *
     * @param entry the adapter's entry
     * @param y the output so far (the base output with the adapters blended in before this one)
     * @param rowMask (batch, 1, ..., 1) of 0 and 1 in {@code y}'s type and device
     * @param call the forward call: inputs, parameter store, training flag, base module
     * @return {@code y} with the adapter's output blended into the masked samples
     */
    protected abstract NDArray blendIn(E entry, NDArray y, NDArray rowMask, LayerCall call);

    @Override
    public String toString() {
        return getClass().getSimpleName()
                + "("
                + baseLayer().getClass().getSimpleName()
                + ", adapters="
                + entries.keySet()
                + ")";
    }
}
