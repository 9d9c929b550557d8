package io.peft4j.mos;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import io.peft4j.core.ops.InvertedDropout;
import io.peft4j.core.ops.Scalars;
import io.peft4j.core.spi.AdapterLayer;
import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.AdditiveAdapterLayer;
import io.peft4j.core.spi.LayerCall;
import java.util.List;

/**
 * A {@link Linear} with Mixture-of-Shards adapters: {@code y = W x + b + s B_i A_i dropout(x)},
 * where {@code A_i} (r, in) and {@code B_i} (out, r) are gathered, on every forward, from the
 * adapter's global pools of its projection type through this layer's frozen index tables. One
 * gather per pool per forward; the pools are shared {@link Parameter}s, so the gradient of a row
 * sums over every layer that uses it.
 */
public final class MosLayer extends AdditiveAdapterLayer<MosLayer.Slot> {

    /** One adapter's view of this layer: the shared pools and this layer's index tables. */
    static final class Slot extends AdapterLayer.Entry {
        final MosPool pool;
        final int layerIndex;
        final NDArray indexA; // INT64 (r * l), frozen
        final NDArray indexB; // INT64 (r * l), frozen

        Slot(MosPool pool, int layerIndex, NDArray indexA, NDArray indexB) {
            this.pool = pool;
            this.layerIndex = layerIndex;
            this.indexA = indexA;
            this.indexB = indexB;
        }

        /**
         * Each pool is registered in one block only (its first layer), so DJL's own parameter walks
         * see it once.
         */
        @Override
        public List<Parameter> blockParameters() {
            return layerIndex == 0 ? List.of(pool.a, pool.b) : List.of();
        }
    }

    MosLayer(Block base, AdapterRuntime runtime) {
        super(base, runtime);
    }

    long inFeatures() {
        return baseWeight().getArray().getShape().get(1);
    }

    long outFeatures() {
        return baseWeight().getArray().getShape().get(0);
    }

    @Override
    protected void release(Slot slot) {
        // the index tables are this layer's; the pools are the adapter's (it closes them)
        slot.indexA.close();
        slot.indexB.close();
    }

    /** {@code s B_i A_i dropout(x)}; every intermediate is owned by {@code x}'s manager. */
    @Override
    protected NDArray delta(Slot s, LayerCall call) {
        NDArray x = call.input();
        NDManager owner = x.getManager();
        int rank = s.pool.config.rank();
        NDArray a = gather(call.value(s.pool.a), s.indexA, owner).reshape(rank, inFeatures());
        NDArray b =
                gather(call.value(s.pool.b), s.indexB, owner)
                        .reshape(rank, outFeatures())
                        .transpose(); // (out, r)
        float dropout = s.pool.config.dropout();
        NDArray in = InvertedDropout.apply(x, dropout, call.training());
        return Scalars.mul(
                Linear.linear(Linear.linear(in, a).head(), b).head(), s.pool.config.scaling());
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
        return gather(s.pool.a.getArray(), s.indexA, owner)
                .reshape(s.pool.config.rank(), inFeatures());
    }

    /** The dense {@code B_i} (out, r) of adapter slot {@code s}, on {@code owner}. */
    NDArray denseB(Slot s, NDManager owner) {
        return gather(s.pool.b.getArray(), s.indexB, owner)
                .reshape(s.pool.config.rank(), outFeatures())
                .transpose();
    }

    /** The dense weight delta {@code s B_i A_i} (out, in), on {@code owner}. */
    NDArray weightDelta(Slot s, NDManager owner) {
        NDArray delta =
                Scalars.mul(denseB(s, owner).matMul(denseA(s, owner)), s.pool.config.scaling());
        delta.attach(owner);
        return delta;
    }
}
