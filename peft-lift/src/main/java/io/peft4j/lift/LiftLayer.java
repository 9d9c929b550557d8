package io.peft4j.lift;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.Selection;
import io.peft4j.core.tree.AdapterWrapper;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * A {@link Linear} fine-tuned by LIFT: the forward pass uses {@code W_eff = W} with the selected
 * entries replaced by the adapter's trainable values, {@code W.flatten().put(idx, values)}, so the
 * gradient reaches only the k selected entries and the base weight itself is never written during
 * training. Entries that left the mask at a refresh keep their trained values in a frozen sparse
 * overlay. Any number of named adapters; the runtime says which one runs.
 */
public final class LiftLayer extends AbstractBlock implements AdapterWrapper {

    /** One adapter's sparse state in this module. */
    static final class Sparse {
        /** Selected flat indices, ascending, int64 (k). */
        NDArray indices;
        /** The trained values of the selected entries (k), in the weight's dtype. */
        final Parameter values;
        /** Entries changed in an earlier mask interval and no longer selected (ascending), or null. */
        NDArray frozenIndices;
        NDArray frozenValues;
        /** Base values at indices / frozenIndices while merged, to unmerge exactly. */
        NDArray mergedOriginal;
        NDArray mergedOriginalFrozen;
        boolean merged;

        Sparse(NDArray indices, Parameter values) {
            this.indices = indices;
            this.values = values;
        }

        long k() {
            return indices.size();
        }

        void close() {
            values.close();
            indices.close();
            closeFrozen();
            closeMerged();
        }

        void closeFrozen() {
            if (frozenIndices != null) {
                frozenIndices.close();
                frozenValues.close();
            }
            frozenIndices = null;
            frozenValues = null;
        }

        void closeMerged() {
            if (mergedOriginal != null) {
                mergedOriginal.close();
            }
            if (mergedOriginalFrozen != null) {
                mergedOriginalFrozen.close();
            }
            mergedOriginal = null;
            mergedOriginalFrozen = null;
        }
    }

    private final Block base;
    private final Parameter weight;
    private final Parameter bias;
    private final AdapterRuntime runtime;
    final Map<String, Sparse> adapters = new LinkedHashMap<>();

    LiftLayer(Linear base, AdapterRuntime runtime) {
        this.base = base;
        this.runtime = runtime;
        this.weight = base.getDirectParameters().get("weight");
        this.bias = base.getDirectParameters().contains("bias") ? base.getDirectParameters().get("bias") : null;
        addChildBlock("base_layer", base);
        // Built ready to run: DJL would otherwise re-initialize it (and its loaded base) on the
        // first training forward.
        inputShapes = new Shape[0];
    }

    @Override
    public Block baseLayer() {
        return base;
    }

    /** The base weight (out, in) that merging writes into. */
    Parameter baseWeight() {
        return weight;
    }

    /** Names of the adapters in this module. */
    public Set<String> adapterNames() {
        return new LinkedHashSet<>(adapters.keySet());
    }

    void addAdapter(String name, Sparse s) {
        adapters.put(name, s);
        addParameter(s.values);
    }

    void removeAdapter(String name) {
        Sparse s = adapters.remove(name);
        if (s != null) {
            parameters.remove(s.values.getName());
            s.close();
        }
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        Selection selection = runtime.current();
        if (selection.isNone() || adapters.isEmpty()) {
            return base.forward(ps, inputs, training, params);
        }
        NDArray x = inputs.head();
        if (!selection.isPerSample()) {
            Sparse s = adapters.get(selection.single());
            if (s == null || s.merged) {
                return base.forward(ps, inputs, training, params);
            }
            return new NDList(linear(ps, x, s, training));
        }
        long batch = x.getShape().get(0);
        AdapterRuntime.checkPerSample(selection, batch, training);
        String[] names = selection.perSample();
        NDArray y = base.forward(ps, inputs, training, params).head();
        for (String name : new LinkedHashSet<>(Arrays.asList(names))) {
            Sparse s = adapters.get(name);
            if (s == null || s.merged) {
                continue;
            }
            float[] mask = new float[names.length];
            for (int i = 0; i < names.length; i++) {
                mask[i] = name.equals(names[i]) ? 1f : 0f;
            }
            long[] dims = new long[y.getShape().dimension()];
            Arrays.fill(dims, 1);
            dims[0] = batch;
            NDArray m = y.getManager().create(mask).reshape(new Shape(dims)).toType(y.getDataType(), false);
            NDArray ya = linear(ps, x, s, training);
            y = y.mul(m.neg().add(1)).add(ya.mul(m));
        }
        return new NDList(y);
    }

    private NDArray linear(ParameterStore ps, NDArray x, Sparse s, boolean training) {
        NDArray w = effectiveWeight(ps.getValue(weight, x.getDevice(), training), s,
                ps.getValue(s.values, x.getDevice(), training), x.getManager());
        NDArray b = bias == null ? null : ps.getValue(bias, x.getDevice(), training);
        return Linear.linear(x, w, b).head();
    }

    /**
     * {@code W} with the overlay and the selected entries replaced; differentiable in {@code
     * values}. Every intermediate is attached to {@code owner} (a step-scoped manager), never to the
     * long-lived manager of the base weight.
     */
    static NDArray effectiveWeight(NDArray w0, Sparse s, NDArray values, NDManager owner) {
        NDArray flat = w0.flatten();
        flat.attach(owner);
        if (s.frozenIndices != null) {
            flat = flat.put(s.frozenIndices, s.frozenValues);
        }
        return flat.put(s.indices, values).reshape(w0.getShape());
    }

    /** The current effective weight of adapter {@code s}, without gradient, attached to {@code owner}. */
    NDArray effectiveWeight(Sparse s, NDManager owner) {
        NDArray w0 = weight.getArray();
        try (NoGrad off = NoGrad.of(w0)) {
            return effectiveWeight(w0, s, s.values.getArray(), owner);
        }
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        base.initialize(manager, dataType, inputShapes);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return base.getOutputShapes(inputShapes);
    }

    @Override
    public String toString() {
        return "LiftLayer(" + base.getClass().getSimpleName() + ", adapters=" + adapters.keySet() + ")";
    }
}
