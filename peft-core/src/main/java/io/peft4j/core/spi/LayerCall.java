package io.peft4j.core.spi;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.function.UnaryOperator;

/**
 * One forward call of an {@link AdapterLayer}: what DJL passed in (parameter store, inputs,
 * training flag, extra parameters) and the wrapped base module, so that a method's {@code
 * forwardWith} and {@code blendIn} take one argument for all of it. The base module runs at most
 * once per call ({@link #baseOutput()}); a mixed batch's adapters all see that one output.
 */
public final class LayerCall {

    private final Block base;
    private final ParameterStore store;
    private final NDList inputs;
    private final boolean training;
    private final PairList<String, Object> params;
    private NDList baseOutput; // computed on first use: a method that replaces the base skips it

    LayerCall(
            Block base,
            ParameterStore store,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        this.base = base;
        this.store = store;
        this.inputs = inputs;
        this.training = training;
        this.params = params;
    }

    /** {@return the module's inputs} */
    public NDList inputs() {
        return inputs;
    }

    /** {@return the module's first input (the activations or token ids the adapter sees)} */
    public NDArray input() {
        return inputs.head();
    }

    /** {@return whether this is a training forward} */
    public boolean training() {
        return training;
    }

    /** {@return the parameter store of the call} */
    public ParameterStore store() {
        return store;
    }

    /**
     * The value of {@code p} for this call, on the input's device, through the parameter store (so
     * that a training forward records its gradient).
     *
     * @param p the parameter
     * @return its array for this call
     */
    public NDArray value(Parameter p) {
        return store.getValue(p, input().getDevice(), training);
    }

    /** {@return the base module's output for these inputs, computed once per call} */
    public NDList baseOutput() {
        if (baseOutput == null) {
            baseOutput = base.forward(store, inputs, training, params);
        }
        return baseOutput;
    }

    /**
     * The base module's output with its first array replaced by {@code head}; the other arrays pass
     * through.
     *
     * @param head the new first array
     * @return a new list
     */
    public NDList withHead(NDArray head) {
        NDList out = baseOutput();
        NDList result = new NDList(head);
        for (int i = 1; i < out.size(); i++) {
            result.add(out.get(i));
        }
        return result;
    }

    /**
     * The base module's output with its first array replaced by {@code adapt} of it (the base
     * module runs first); the other arrays pass through.
     *
     * @param adapt computes the adapted first array from the base one
     * @return a new list
     */
    public NDList adaptBaseHead(UnaryOperator<NDArray> adapt) {
        return withHead(adapt.apply(baseOutput().head()));
    }
}
