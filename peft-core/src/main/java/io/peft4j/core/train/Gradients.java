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
     * Turns autograd recording off on this thread until closed, then restores it. PyTorch's grad
     * mode is per thread and on by default; DJL turns it off only on the thread that loaded the
     * engine, so on any other thread an in-place update of a leaf that requires grad would fail ("a
     * leaf Variable that requires grad is being used in an in-place operation").
     *
     * @param like an array of the engine in use; other engines need nothing and get a no-op
     */
    static NoGrad noGrad(NDArray like) {
        if (like instanceof PtNDArray && JniUtils.isGradMode()) {
            JniUtils.setGradMode(false);
            return new NoGrad(true);
        }
        return new NoGrad(false);
    }

    /** Restores grad mode on close; see {@link #noGrad}. */
    static final class NoGrad implements AutoCloseable {
        private final boolean restore;

        private NoGrad(boolean restore) {
            this.restore = restore;
        }

        @Override
        public void close() {
            if (restore) {
                JniUtils.setGradMode(true);
            }
        }
    }

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
