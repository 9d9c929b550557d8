package io.peft4j.lift;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.spi.AdapterLayer;
import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.LayerCall;
import java.util.List;

/**
 * A {@link Linear} fine-tuned by LIFT: the forward pass uses {@code W_eff = W} with the selected
 * entries replaced by the adapter's trainable values, {@code W.flatten().put(idx, values)}, so the
 * gradient reaches only the k selected entries and the base weight itself is never written during
 * training. Entries that left the mask at a refresh keep their trained values in a frozen sparse
 * overlay. Any number of named adapters; the runtime says which one runs.
 */
public final class LiftLayer extends AdapterLayer<LiftLayer.Sparse> {

    /** One adapter's sparse state in this module. */
    static final class Sparse extends AdapterLayer.Entry {
        /** Selected flat indices, ascending, int64 (k). */
        NDArray indices;

        /** The trained values of the selected entries (k), in the weight's dtype. */
        final Parameter values;

        /**
         * Entries changed in an earlier mask interval and no longer selected (ascending), or null.
         */
        NDArray frozenIndices;

        NDArray frozenValues;

        /** Base values at indices / frozenIndices while merged, to unmerge exactly. */
        NDArray mergedOriginal;

        NDArray mergedOriginalFrozen;

        Sparse(NDArray indices, Parameter values) {
            this.indices = indices;
            this.values = values;
        }

        long k() {
            return indices.size();
        }

        @Override
        public List<Parameter> blockParameters() {
            return List.of(values);
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

    LiftLayer(Linear base, AdapterRuntime runtime) {
        super(base, runtime);
    }

    @Override
    protected void release(Sparse s) {
        s.close();
    }

    /** The whole batch through the effective weight: no separate base pass. */
    @Override
    protected NDList forwardWith(Sparse s, LayerCall call) {
        return new NDList(linear(s, call));
    }

    /**
     * Rows of the mix take this adapter's output instead of the base output (it replaces, not
     * adds).
     */
    @Override
    protected NDArray blendIn(Sparse s, NDArray y, NDArray rowMask, LayerCall call) {
        NDArray ya = linear(s, call);
        return y.mul(rowMask.neg().add(1)).add(ya.mul(rowMask));
    }

    private NDArray linear(Sparse s, LayerCall call) {
        NDArray x = call.input();
        NDArray w =
                effectiveWeight(call.value(baseWeight()), s, call.value(s.values), x.getManager());
        NDArray b = baseBias() == null ? null : call.value(baseBias());
        return Linear.linear(x, w, b).head();
    }

    /**
     * {@code W} with the overlay and the selected entries replaced; differentiable in {@code
     * values}. Every intermediate is attached to {@code owner} (a step-scoped manager), never to
     * the long-lived manager of the base weight.
     */
    static NDArray effectiveWeight(NDArray w0, Sparse s, NDArray values, NDManager owner) {
        NDArray flat = w0.flatten();
        flat.attach(owner);
        if (s.frozenIndices != null) {
            flat = flat.put(s.frozenIndices, s.frozenValues);
        }
        return flat.put(s.indices, values).reshape(w0.getShape());
    }

    /**
     * The current effective weight of adapter {@code s}, without gradient, attached to {@code
     * owner}.
     */
    NDArray effectiveWeight(Sparse s, NDManager owner) {
        NDArray w0 = baseWeight().getArray();
        try (NoGrad off = NoGrad.of(w0)) {
            return effectiveWeight(w0, s, s.values.getArray(), owner);
        }
    }
}
