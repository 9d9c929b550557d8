package io.peft4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
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

/**
 * peft's {@code ModulesToSaveWrapper} for a {@link Linear} or an embedding: each adapter owns a
 * trainable copy of the module's weights (a new classifier head, say) and the copy runs in place
 * of the original while that adapter is active. DJL cannot deep-copy a block, so the copy is of
 * the tensors and the wrapper computes the layer itself; that is why only these two kinds are
 * supported.
 */
final class ModulesToSaveLayer extends AbstractBlock implements AdapterWrapper {

    /** One adapter's copy. */
    static final class Copy {
        final Parameter weight;
        final Parameter bias; // null for embeddings and bias-free linears
        NDArray savedWeight; // the original values while merged
        NDArray savedBias;

        Copy(Parameter weight, Parameter bias) {
            this.weight = weight;
            this.bias = bias;
        }

        boolean merged() {
            return savedWeight != null;
        }
    }

    private final Block base;
    private final AdapterRuntime runtime;
    private final Parameter baseWeight;
    private final Parameter baseBias;
    private final boolean embedding;
    final Map<String, Copy> copies = new LinkedHashMap<>();

    ModulesToSaveLayer(Block base, Parameter baseWeight, Parameter baseBias, boolean embedding, AdapterRuntime runtime) {
        this.base = base;
        this.runtime = runtime;
        this.baseWeight = baseWeight;
        this.baseBias = baseBias;
        this.embedding = embedding;
        addChildBlock("original_module", base);
        inputShapes = new Shape[0]; // built ready to run: no DJL re-initialization
    }

    @Override
    public Block baseLayer() {
        return base;
    }

    Parameter baseWeight() {
        return baseWeight;
    }

    Parameter baseBias() {
        return baseBias;
    }

    void add(String adapter, NDManager manager) {
        Parameter w = copyOf(baseWeight, "modules_to_save." + adapter + ".weight", manager);
        Parameter b = baseBias == null ? null : copyOf(baseBias, "modules_to_save." + adapter + ".bias", manager);
        copies.put(adapter, new Copy(w, b));
        addParameter(w);
        if (b != null) {
            addParameter(b);
        }
    }

    void remove(String adapter) {
        Copy c = copies.remove(adapter);
        if (c == null) {
            return;
        }
        parameters.remove(c.weight.getName());
        c.weight.close();
        if (c.bias != null) {
            parameters.remove(c.bias.getName());
            c.bias.close();
        }
    }

    private static Parameter copyOf(Parameter source, String name, NDManager manager) {
        NDArray array = source.getArray().duplicate();
        array.attach(manager);
        Parameter p = Parameter.builder().setName(name).setType(source.getType()).optArray(array).build();
        array.setRequiresGradient(true);
        return p;
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDList out = base.forward(ps, inputs, training, params);
        Selection selection = runtime.current();
        if (selection.isNone() || copies.isEmpty()) {
            return out;
        }
        NDArray y = out.head();
        if (!selection.isPerSample()) {
            Copy c = copies.get(selection.single());
            if (c == null || c.merged()) {
                return out;
            }
            y = run(c, inputs.head(), ps, training);
        } else {
            NDArray x = inputs.head();
            long batch = x.getShape().get(0);
            AdapterRuntime.checkPerSample(selection, batch, training);
            String[] names = selection.perSample();
            NDArray baseOut = y;
            for (String name : new LinkedHashSet<>(Arrays.asList(names))) {
                Copy c = copies.get(name);
                if (c == null || c.merged()) {
                    continue;
                }
                float[] mask = new float[names.length];
                for (int i = 0; i < names.length; i++) {
                    mask[i] = name.equals(names[i]) ? 1f : 0f;
                }
                long[] dims = new long[baseOut.getShape().dimension()];
                Arrays.fill(dims, 1);
                dims[0] = batch;
                NDArray m = baseOut.getManager().create(mask).reshape(new Shape(dims)).toType(baseOut.getDataType(), false);
                y = y.add(run(c, x, ps, training).sub(baseOut).mul(m));
            }
        }
        NDList result = new NDList(y);
        for (int i = 1; i < out.size(); i++) {
            result.add(out.get(i));
        }
        return result;
    }

    private NDArray run(Copy c, NDArray x, ParameterStore ps, boolean training) {
        NDArray w = ps.getValue(c.weight, x.getDevice(), training);
        if (embedding) {
            return Embedding.embedding(x, w, SparseFormat.DENSE).head();
        }
        NDArray b = c.bias == null ? null : ps.getValue(c.bias, x.getDevice(), training);
        return Linear.linear(x, w, b).head();
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... shapes) {
        base.initialize(manager, dataType, shapes);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return base.getOutputShapes(inputShapes);
    }

    @Override
    public String toString() {
        return "ModulesToSave(" + base.getClass().getSimpleName() + ", adapters=" + copies.keySet() + ")";
    }
}
