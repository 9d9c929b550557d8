package io.peft4j.masa;

import ai.djl.Device;
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
 * A {@link Linear} whose weight is expressed through shared matrix atoms: for the active adapter
 * {@code W = sum_s c_s D_s + R} with the frozen residual {@code R = W0 - sum_s c0_s D0_s}. It is
 * computed as {@code W0 + (c . D - c0 . D0)} (coefficient mode: {@code W0 + (c - c0) . D0}), which is
 * the same matrix and is exactly {@code W0} before training, so the start is bit-exact without
 * storing R. Holds any number of named adapters; the dictionaries (atoms) are shared objects,
 * one per projection type and group, referenced by every member layer.
 */
public final class MasaLinear extends AbstractBlock implements AdapterWrapper {

    /** One dictionary: S atoms shared by a group of layers of one projection type. */
    static final class Dictionary {
        final String key;
        final NDArray initialAtoms; // D0 (S, out, in), frozen
        final Parameter atoms; // trainable D (COEFFICIENTS_AND_ATOMS), else null
        final double[] eigenvalues;

        Dictionary(String key, NDArray initialAtoms, Parameter atoms, double[] eigenvalues) {
            this.key = key;
            this.initialAtoms = initialAtoms;
            this.atoms = atoms;
            this.eigenvalues = eigenvalues;
        }

        int size() {
            return (int) initialAtoms.getShape().get(0);
        }

        void close() {
            initialAtoms.close();
            if (atoms != null) {
                atoms.close();
            }
        }
    }

    /** One adapter's state in this layer. */
    static final class Entry {
        final Dictionary dict;
        final Parameter coefficients; // (S), trainable
        final NDArray initialCoefficients; // c0 (S), frozen
        boolean merged;

        Entry(Dictionary dict, Parameter coefficients, NDArray initialCoefficients) {
            this.dict = dict;
            this.coefficients = coefficients;
            this.initialCoefficients = initialCoefficients;
        }
    }

    private final Block base;
    private final Parameter weight;
    private final Parameter bias;
    private final AdapterRuntime runtime;
    final Map<String, Entry> adapters = new LinkedHashMap<>();

    MasaLinear(Block base, AdapterRuntime runtime) {
        this.base = base;
        this.runtime = runtime;
        this.weight = base.getDirectParameters().get("weight");
        this.bias = base.getDirectParameters().contains("bias") ? base.getDirectParameters().get("bias") : null;
        addChildBlock("base_layer", base);
        inputShapes = new Shape[0]; // built ready to run: DJL must not re-initialize it
    }

    @Override
    public Block baseLayer() {
        return base;
    }

    /** The base weight W0 (merging adds to it). */
    Parameter baseWeight() {
        return weight;
    }

    /** Names of the adapters in this module. */
    public Set<String> adapterNames() {
        return new LinkedHashSet<>(adapters.keySet());
    }

    /** The atoms adapter {@code name} uses here: the shared trainable Parameter, or null in coefficient mode. */
    Parameter sharedAtoms(String name) {
        Entry e = adapters.get(name);
        return e == null ? null : e.dict.atoms;
    }

    void addAdapter(String name, Entry e) {
        adapters.put(name, e);
        addParameter(e.coefficients);
    }

    void removeAdapter(String name) {
        Entry e = adapters.remove(name);
        if (e != null) {
            parameters.remove(e.coefficients.getName());
            e.coefficients.close();
            e.initialCoefficients.close();
        }
    }

    boolean anyMerged() {
        return adapters.values().stream().anyMatch(e -> e.merged);
    }

    /**
     * The weight change {@code c . D - c0 . D0} (out, in), differentiable in the trainable tensors
     * when read through {@code ps} in training.
     */
    NDArray weightDelta(Entry e, ParameterStore ps, Device device, boolean training) {
        NDArray c = ps == null ? e.coefficients.getArray() : ps.getValue(e.coefficients, device, training);
        NDArray c0 = e.initialCoefficients;
        NDArray d0 = e.dict.initialAtoms;
        int s = e.dict.size();
        Shape w = d0.getShape();
        if (e.dict.atoms == null) {
            return c.sub(c0).reshape(1, s).matMul(d0.reshape(s, -1)).reshape(w.get(1), w.get(2));
        }
        NDArray d = ps == null ? e.dict.atoms.getArray() : ps.getValue(e.dict.atoms, device, training);
        NDArray now = c.reshape(1, s).matMul(d.reshape(s, -1));
        NDArray start = c0.reshape(1, s).matMul(d0.reshape(s, -1));
        return now.sub(start).reshape(w.get(1), w.get(2));
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        Selection selection = runtime.current();
        if (selection.isNone() || adapters.isEmpty()) {
            return base.forward(ps, inputs, training, params);
        }
        NDArray x = inputs.head();
        Device device = x.getDevice();
        if (!selection.isPerSample()) {
            Entry e = adapters.get(selection.single());
            if (e == null || e.merged) {
                return base.forward(ps, inputs, training, params);
            }
            NDArray w0 = ps.getValue(weight, device, training);
            NDArray b = bias == null ? null : ps.getValue(bias, device, training);
            return Linear.linear(x, w0.add(weightDelta(e, ps, device, training)), b);
        }
        NDList out = base.forward(ps, inputs, training, params);
        NDArray y = out.head();
        long batch = x.getShape().get(0);
        AdapterRuntime.checkPerSample(selection, batch, training);
        String[] names = selection.perSample();
        for (String name : new LinkedHashSet<>(Arrays.asList(names))) {
            Entry e = adapters.get(name);
            if (e == null || e.merged) {
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
            y = y.add(Linear.linear(x, weightDelta(e, ps, device, training)).head().mul(m));
        }
        return new NDList(y);
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
        return "MasaLinear(" + base.getClass().getSimpleName() + ", adapters=" + adapters.keySet() + ")";
    }
}
