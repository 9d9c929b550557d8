package io.peft4j.tasks;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Turns PyTorch's autograd recording off on this thread until closed, then restores it. Grad mode
 * is per thread and DJL only turns it off on the thread that loaded the engine, so inference code
 * (evaluation, generation) must not rely on it. A no-op on other engines.
 */
public final class NoGrad implements AutoCloseable {

    private final boolean restore;

    private NoGrad(boolean restore) {
        this.restore = restore;
    }

    /**
     * Turns recording off on this thread.
     *
     * @return the scope; close it to restore the previous mode
     */
    public static NoGrad enter() {
        if ("PyTorch".equals(Engine.getInstance().getEngineName()) && JniUtils.isGradMode()) {
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
