package io.peft4j.core.ops;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Turns PyTorch's autograd recording off on this thread until closed, then restores it.
 *
 * <p>Grad mode is per thread and on by default; DJL turns it off only on the thread that loaded the
 * engine. So on any other thread an in-place update of a leaf that requires grad fails ("a leaf
 * Variable that requires grad is being used in an in-place operation"), and inference code
 * (evaluation, generation) would record a graph it never uses. A no-op on other engines.
 *
 * <pre>{@code
 * try (NoGrad off = NoGrad.enter()) {
 *     ... // evaluation, optimiser updates
 * }
 * }</pre>
 */
public final class NoGrad implements AutoCloseable {

    private final boolean restore;

    private NoGrad(boolean restore) {
        this.restore = restore;
    }

    /**
     * Turns recording off on this thread when the engine in use is PyTorch.
     *
     * @return the scope; close it to restore the previous mode
     */
    public static NoGrad enter() {
        return switchOff("PyTorch".equals(Engine.getInstance().getEngineName()));
    }

    /**
     * Turns recording off on this thread when {@code like} is a PyTorch array (cheaper than asking
     * the default engine, and right when several engines are loaded).
     *
     * @param like an array of the engine in use
     * @return the scope; close it to restore the previous mode
     */
    public static NoGrad of(NDArray like) {
        return switchOff(like instanceof PtNDArray);
    }

    private static NoGrad switchOff(boolean pytorch) {
        if (pytorch && JniUtils.isGradMode()) {
            JniUtils.setGradMode(false);
            return new NoGrad(true);
        }
        return new NoGrad(false);
    }

    /** Restores recording if this scope turned it off. */
    @Override
    public void close() {
        if (restore) {
            JniUtils.setGradMode(true);
        }
    }
}
