package io.peft4j.core.train;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.Collection;

/** Gradient housekeeping shared by the trainer and the optimisers. */
final class Gradients {

    private Gradients() {}

    /**
     * Zeroes the gradients of the parameters in place. On PyTorch this is {@code grad.zero_()}: it
     * allocates nothing and also clears NaN/Inf (which {@code grad - grad} would keep), so a run
     * that stopped on a non-finite loss leaves no poisoned gradients behind.
     */
    static void zero(Collection<Parameter> params) {
        for (Parameter param : params) {
            NDArray array = param.getArray();
            if (!array.hasGradient()) {
                continue;
            }
            if (array instanceof PtNDArray) {
                JniUtils.zeroGrad((PtNDArray) array);
            } else {
                try (NDArray grad = array.getGradient()) {
                    grad.subi(grad);
                }
            }
        }
    }
}
