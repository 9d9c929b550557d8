package io.peft4j.mos;

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
import ai.djl.nn.norm.Dropout;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

import io.peft4j.core.ops.Scalars;
import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.Selection;
import io.peft4j.core.tree.AdapterWrapper;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * A {@link Linear} with Mixture-of-Shards adapters: {@code y = W x + b + s B_i A_i dropout(x)},
 * where {@code A_i} (r, in) and {@code B_i} (out, r) are gathered, on every forward, from the
 * adapter's global pools of its projection type through this layer's frozen index tables. One
 * gather per pool per forward; the pools are shared {@link Parameter}s, so the gradient of a row
 * sums over every layer that uses it.
 */
public final class MosLayer extends AbstractBlock implements AdapterWrapper {

    /** One adapter's view of this layer: the shared pools and this layer's index tables. */
    static final class Slot {
        final MosPool pool;
        final int layerIndex;
        final NDArray indexA; // INT64 (r * l), frozen
        final NDArray indexB; // INT64 (r * l), frozen
        final int rank;
        final float scaling;
        final float dropout;
        final boolean ownsPoolRegistration;
        boolean merged;

        Slot(MosPool pool, int layerIndex, NDArray indexA, NDArray indexB, int rank, float scaling, float dropout,
                boolean ownsPoolRegistration) {
            this.pool = pool;
            this.layerIndex = layerIndex;
            this.indexA = indexA;
            this.indexB = indexB;
            this.rank = rank;
            this.scaling = scaling;
            this.dropout = dropout;
            this.ownsPoolRegistration = ownsPoolRegistration;
        }
    }

    private final Block base;
    private final Parameter weight;
    private final AdapterRuntime runtime;
    final Map<String, Slot> adapters = new LinkedHashMap<>();

    MosLayer(Block base, AdapterRuntime runtime) {
        this.base = base;
        this.runtime = runtime;
        this.weight = base.getDirectParameters().get("weight");
        addChildBlock("base_layer", base);
        // Built ready to run: DJL would otherwise re-initialize it (and its loaded base) on the
        // first training forward.
        inputShapes = new Shape[0];
    }

    @Override
    public Block baseLayer() {
        return base;
    }

    /** Names of the adapters in this module. */
    public Set<String> adapterNames() {
        return new LinkedHashSet<>(adapters.keySet());
    }

    long inFeatures() {
        return weight.getArray().getShape().get(1);
    }

    long outFeatures() {
        return weight.getArray().getShape().get(0);
    }

    Parameter baseWeight() {
        return weight;
    }

    void addAdapter(String name, Slot slot) {
        adapters.put(name, slot);
        if (slot.ownsPoolRegistration) {
            // Each pool is registered in one block only (its first layer), so DJL's own parameter
            // walks see it once.
            addParameter(slot.pool.a);
            addParameter(slot.pool.b);
        }
    }

    void removeAdapter(String name) {
        Slot slot = adapters.remove(name);
        if (slot != null && slot.ownsPoolRegistration) {
            parameters.remove(slot.pool.a.getName());
            parameters.remove(slot.pool.b.getName());
        }
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDList out = base.forward(ps, inputs, training, params);
        Selection selection = runtime.current();
        if (selection.isNone() || adapters.isEmpty()) {
            return out;
        }
        NDArray x = inputs.head();
        NDArray y = out.head();
        if (!selection.isPerSample()) {
            Slot s = adapters.get(selection.single());
            if (s == null || s.merged) {
                return out;
            }
            y = y.add(delta(s, x, ps, training));
        } else {
            long batch = x.getShape().get(0);
            AdapterRuntime.checkPerSample(selection, batch, training);
            String[] names = selection.perSample();
            for (String name : new LinkedHashSet<>(Arrays.asList(names))) {
                Slot s = adapters.get(name);
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
                y = y.add(delta(s, x, ps, training).mul(m));
            }
        }
        NDList result = new NDList(y);
        for (int i = 1; i < out.size(); i++) {
            result.add(out.get(i));
        }
        return result;
    }

    /** {@code s B_i A_i dropout(x)}; every intermediate is owned by {@code x}'s manager. */
    private NDArray delta(Slot s, NDArray x, ParameterStore ps, boolean training) {
        NDManager owner = x.getManager();
        NDArray poolA = ps.getValue(s.pool.a, x.getDevice(), training);
        NDArray poolB = ps.getValue(s.pool.b, x.getDevice(), training);
        NDArray a = gather(poolA, s.indexA, owner).reshape(s.rank, inFeatures()); // (r, in)
        NDArray b = gather(poolB, s.indexB, owner).reshape(s.rank, outFeatures()).transpose(); // (out, r)
        NDArray in = training && s.dropout > 0 ? Dropout.dropout(x, s.dropout, true).head() : x;
        return Scalars.mul(Linear.linear(Linear.linear(in, a).head(), b).head(), s.scaling);
    }

    /**
     * Rows {@code index} of {@code pool}: (r * l, width). One embedding lookup (a row gather whose
     * backward adds into the pool rows); the result is moved to {@code owner} so that per-step
     * arrays do not pile up on the adapter's long-lived manager.
     */
    static NDArray gather(NDArray pool, NDArray index, NDManager owner) {
        NDArray rows = Embedding.embedding(index, pool, SparseFormat.DENSE).head();
        rows.attach(owner);
        return rows;
    }

    /** The dense {@code A_i} (r, in) of adapter slot {@code s}, on {@code owner}. */
    NDArray denseA(Slot s, NDManager owner) {
        return gather(s.pool.a.getArray(), s.indexA, owner).reshape(s.rank, inFeatures());
    }

    /** The dense {@code B_i} (out, r) of adapter slot {@code s}, on {@code owner}. */
    NDArray denseB(Slot s, NDManager owner) {
        return gather(s.pool.b.getArray(), s.indexB, owner).reshape(s.rank, outFeatures()).transpose();
    }

    /** The dense weight delta {@code s B_i A_i} (out, in), on {@code owner}. */
    NDArray weightDelta(Slot s, NDManager owner) {
        NDArray delta = Scalars.mul(denseB(s, owner).matMul(denseA(s, owner)), s.scaling);
        delta.attach(owner);
        return delta;
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
        return "MosLayer(" + base.getClass().getSimpleName() + ", adapters=" + adapters.keySet() + ")";
    }
}
