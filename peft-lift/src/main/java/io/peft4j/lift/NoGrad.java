package io.peft4j.lift;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Turns PyTorch's autograd recording off on this thread until closed. Grad mode is per thread and
 * on by default; DJL turns it off only on the thread that loaded the engine, so in-place updates of
 * trainable arrays from another thread would fail without this.
 */
final class NoGrad implements AutoCloseable {

    private final boolean restore;

    private NoGrad(boolean restore) {
        this.restore = restore;
    }

    static NoGrad of(NDArray like) {
        if (like instanceof PtNDArray && JniUtils.isGradMode()) {
            JniUtils.setGradMode(false);
            return new NoGrad(true);
        }
        return new NoGrad(false);
    }

    @Override
    public void close() {
        if (restore) {
            JniUtils.setGradMode(true);
        }
    }
}
