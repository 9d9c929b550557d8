package io.peft4j.mos;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.ops.Scalars;
import io.peft4j.core.spi.AdapterLayer;
import io.peft4j.core.spi.AdapterRuntime;
import java.util.List;

/**
 * A {@link Linear} with Mixture-of-Shards adapters: {@code y = W x + b + s B_i A_i dropout(x)},
 * where {@code A_i} (r, in) and {@code B_i} (out, r) are gathered, on every forward, from the
 * adapter's global pools of its projection type through this layer's frozen index tables. One
 * gather per pool per forward; the pools are shared {@link Parameter}s, so the gradient of a row
 * sums over every layer that uses it.
 */
public final class MosLayer extends AdapterLayer<MosLayer.Slot> {

    /** One adapter's view of this layer: the shared pools and this layer's index tables. */
    static final class Slot extends AdapterLayer.Entry {
        final MosPool pool;
        final int layerIndex;
        final NDArray indexA; // INT64 (r * l), frozen
        final NDArray indexB; // INT64 (r * l), frozen
        final int rank;
        final float scaling;
        final float dropout;
        final boolean ownsPoolRegistration;

        Slot(
                MosPool pool,
                int layerIndex,
                NDArray indexA,
                NDArray indexB,
                int rank,
                float scaling,
                float dropout,
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

        /**
         * Each pool is registered in one block only (its first layer), so DJL's own parameter walks
         * see it once.
         */
        @Override
        public List<Parameter> blockParameters() {
            return ownsPoolRegistration ? List.of(pool.a, pool.b) : List.of();
        }
    }

    private final Parameter weight;

    MosLayer(Block base, AdapterRuntime runtime) {
        super(base, runtime);
        this.weight = base.getDirectParameters().get("weight");
    }

    long inFeatures() {
        return weight.getArray().getShape().get(1);
    }

    long outFeatures() {
        return weight.getArray().getShape().get(0);
    }

    @Override
    protected Parameter baseWeight() {
        return weight;
    }

    @Override
    protected void release(Slot slot) {
        // the index tables are this layer's; the pools are the adapter's (it closes them)
        slot.indexA.close();
        slot.indexB.close();
    }

    @Override
    protected NDList forwardWith(
            Slot s,
            ParameterStore ps,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDList out = baseLayer().forward(ps, inputs, training, params);
        return withHead(out, out.head().add(delta(s, inputs.head(), ps, training)));
    }

    @Override
    protected NDArray blendIn(
            Slot s,
            NDArray x,
            NDArray y,
            NDArray baseY,
            NDArray rowMask,
            ParameterStore ps,
            boolean training) {
        return y.add(delta(s, x, ps, training).mul(rowMask));
    }

    /** {@code s B_i A_i dropout(x)}; every intermediate is owned by {@code x}'s manager. */
    private NDArray delta(Slot s, NDArray x, ParameterStore ps, boolean training) {
        NDManager owner = x.getManager();
        NDArray poolA = ps.getValue(s.pool.a, x.getDevice(), training);
        NDArray poolB = ps.getValue(s.pool.b, x.getDevice(), training);
        NDArray a = gather(poolA, s.indexA, owner).reshape(s.rank, inFeatures()); // (r, in)
        NDArray b =
                gather(poolB, s.indexB, owner)
                        .reshape(s.rank, outFeatures())
                        .transpose(); // (out, r)
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
        return gather(s.pool.b.getArray(), s.indexB, owner)
                .reshape(s.rank, outFeatures())
                .transpose();
    }

    /** The dense weight delta {@code s B_i A_i} (out, in), on {@code owner}. */
    NDArray weightDelta(Slot s, NDManager owner) {
        NDArray delta = Scalars.mul(denseB(s, owner).matMul(denseA(s, owner)), s.scaling);
        delta.attach(owner);
        return delta;
    }
}
