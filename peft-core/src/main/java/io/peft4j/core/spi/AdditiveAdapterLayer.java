package io.peft4j.core.spi;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;

/**
 * An {@link AdapterLayer} whose adapter adds a term to the base module's output, {@code y = base(x)
 * + delta(x)}: the whole batch gets the base output plus the term, and a mixed batch adds the term
 * under each adapter's row mask. A method says only what the term is ({@link #delta}); it may still
 * override {@link #forwardWith} to compute the adapted module in one go (the same sum).
 *
 * @param <E> the method's state of one adapter in one layer
 */
public abstract class AdditiveAdapterLayer<E extends AdapterLayer.Entry> extends AdapterLayer<E> {

    /**
     * Wraps {@code base} as child block {@code base_layer}; forward consults {@code runtime}.
     *
     * @param base the module to wrap
     * @param runtime the switchboard forward consults
     */
    protected AdditiveAdapterLayer(Block base, AdapterRuntime runtime) {
        super(base, runtime);
    }

    /**
     * The adapter's term on every sample, in the call's scope (put the input first in an op on a
     * parameter, so the result attaches to the call's manager).
     *
     * @param entry the adapter's entry
     * @param call the forward call
     * @return the term, shaped as the base module's first output
     */
    protected abstract NDArray delta(E entry, LayerCall call);

    // The base output plus the adapter's term; the base module runs first.
    @Override
    protected NDList forwardWith(E entry, LayerCall call) {
        return call.adaptBaseHead(y -> y.add(delta(entry, call)));
    }

    // y plus the adapter's term on the masked samples.
    @Override
    protected NDArray blendIn(E entry, NDArray y, NDArray rowMask, LayerCall call) {
        return y.add(delta(entry, call).mul(rowMask));
    }
}
