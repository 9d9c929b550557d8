package io.peft4j.core.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/**
 * What a train step does with its parameters around the step's sub-manager: {@link FineTuner}'s
 * rules, public for code that runs steps of its own (the benchmarks) so that it measures and frees
 * the same way.
 */
public final class StepScope {

    private StepScope() {}

    /**
     * Borrows every parameter array into {@code scope} until it closes, so every intermediate made
     * from a parameter lands in the scope (results attach to their first operand's manager). Once
     * per array: tied parameters share one, and a second tempAttach would record the scope itself
     * as the owner to return it to, so closing the scope would free it.
     *
     * @param params the trained parameters
     * @param scope the step's sub-manager
     */
    public static void borrowParameters(Collection<Parameter> params, NDManager scope) {
        Set<NDArray> attached = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Parameter param : params) {
            if (attached.add(param.getArray())) {
                param.getArray().tempAttach(scope);
            }
        }
    }

    /**
     * Zeroes the parameters' gradients in place (PyTorch's {@code grad.zero_()}: no allocation, and
     * NaN/Inf cleared too).
     *
     * @param params the parameters
     */
    public static void zeroGradients(Collection<Parameter> params) {
        Gradients.zero(params);
    }
}
