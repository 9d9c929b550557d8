package io.peft4j.core.model;

import ai.djl.ndarray.NDArray;

/**
 * Sees, and may replace, the hidden state between the layers of a {@link LayerStack}.
 *
 * <p>Called with {@code layer = i} just before layer i runs (its input), for i = 0 .. n-1, and once
 * more with {@code layer = n} just before the final norm (the last layer's output). Return the
 * hidden state to continue with (the same array to leave it unchanged).
 */
@FunctionalInterface
public interface LayerHook {

    /**
     * @param layer index of the layer about to run, or the layer count before the final norm
     * @param hidden (B, T, hidden) state
     * @return the state to continue with, same shape
     */
    NDArray apply(int layer, NDArray hidden);
}
