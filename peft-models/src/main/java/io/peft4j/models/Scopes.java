package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.util.function.Function;

/** Runs a forward pass in a sub-manager so its intermediates are freed when it returns. */
final class Scopes {

    private Scopes() {}

    /**
     * Attaches the inputs to a fresh sub-manager of the first input's manager for the call, then
     * moves the outputs to that manager and closes the rest. Autograd keeps what backward needs on
     * the native side, so training through a scoped pass works.
     */
    static NDList run(NDList inputs, Function<NDList, NDList> body) {
        NDManager parent = inputs.head().getManager();
        try (NDManager scope = parent.newSubManager()) {
            for (NDArray input : inputs) {
                input.tempAttach(scope);
            }
            NDList out = body.apply(inputs);
            for (NDArray o : out) {
                o.attach(parent);
            }
            return out;
        }
    }
}
