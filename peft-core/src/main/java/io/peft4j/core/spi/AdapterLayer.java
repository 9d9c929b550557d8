package io.peft4j.core.spi;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.tree.AbstractAdapterWrapper;
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
 * when it leaves ({@link #release}), and which base weight merging changes ({@link #baseWeight}).
 * The block registers an entry's {@link Entry#blockParameters()} while the entry is here. Entries
 * come and go through {@link AdapterLayers}, the adapter's side, so that a layer and the adapters
 * that use it always agree on who holds what.
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
    }

    /** {@return names of the adapters in this module} */
    public Set<String> adapterNames() {
        return new LinkedHashSet<>(entries.keySet());
    }

    /**
     * The base module's weight that merging changes. (A method overrides it in its own package,
     * which lets its adapter and injector call it there.)
     *
     * @return the base weight
     */
    protected abstract Parameter baseWeight();

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
        Selection selection = runtime.current();
        if (selection.isNone() || entries.isEmpty()) {
            return baseLayer().forward(ps, inputs, training, params);
        }
        if (!selection.isPerSample()) {
            E entry = running(selection.single());
            return entry == null
                    ? baseLayer().forward(ps, inputs, training, params)
                    : forwardWith(entry, ps, inputs, training, params);
        }
        NDList out = baseLayer().forward(ps, inputs, training, params);
        NDArray x = inputs.head();
        AdapterRuntime.checkPerSample(selection, x.getShape().get(0), training);
        NDArray baseY = out.head();
        NDArray y = baseY;
        // Each adapter once, over all of its samples: one mask per adapter, not per sample.
        for (String name : new LinkedHashSet<>(Arrays.asList(selection.perSample()))) {
            E entry = running(name);
            if (entry != null) {
                y = blendIn(entry, x, y, baseY, selection.mask(name, y), ps, training);
            }
        }
        return withHead(out, y);
    }

    /**
     * The module's output with the adapter of {@code entry} on every sample. It may run the base
     * module ({@link #baseLayer()}) and change its output, or compute the adapted module in one go.
     *
     * @param entry the adapter's entry
     * @param ps the parameter store
     * @param inputs the module's inputs
     * @param training whether this is a training forward
     * @param params extra forward parameters
     * @return the adapted module's output
     */
    protected abstract NDList forwardWith(
            E entry,
            ParameterStore ps,
            NDList inputs,
            boolean training,
            PairList<String, Object> params);

    /**
     * {@code y} with the samples where {@code rowMask} is 1 given the output of the adapter of
     * {@code entry}; the other samples must keep their rows exactly, so that a mixed batch equals
     * the per-sample runs.
     *
     * @param entry the adapter's entry
     * @param x the input
     * @param y the output so far (the base output with the adapters blended in before this one)
     * @param baseY the base module's output
     * @param rowMask (batch, 1, ..., 1) of 0 and 1 in {@code y}'s type and device
     * @param ps the parameter store
     * @param training whether this is a training forward
     * @return {@code y} with the adapter's output blended into the masked samples
     */
    protected abstract NDArray blendIn(
            E entry,
            NDArray x,
            NDArray y,
            NDArray baseY,
            NDArray rowMask,
            ParameterStore ps,
            boolean training);

    /**
     * {@code out} with its first array replaced by {@code head}; the others pass through.
     *
     * @param out the output to change
     * @param head the new first array
     * @return a new list with {@code head} first
     */
    protected static NDList withHead(NDList out, NDArray head) {
        NDList result = new NDList(head);
        for (int i = 1; i < out.size(); i++) {
            result.add(out.get(i));
        }
        return result;
    }

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
