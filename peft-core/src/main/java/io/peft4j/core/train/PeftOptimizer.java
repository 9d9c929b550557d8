package io.peft4j.core.train;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import java.util.Map;

/**
 * An optimiser over named parameters whose state can be saved and restored, unlike DJL's
 * optimisers, whose state is private.
 *
 * <p>An optimiser owns its state arrays; {@link #close()} frees them. The trainer closes the
 * optimisers it creates.
 */
public interface PeftOptimizer extends AutoCloseable {

    /**
     * Applies one update from the gradients currently attached to the parameters' arrays. It runs
     * outside gradient recording and changes the arrays in place; it does not zero the gradients.
     *
     * @param params the parameters to update, by name; a name keys the state for that parameter
     * @param learningRate the learning rate of this step
     */
    void step(Map<String, Parameter> params, float learningRate);

    /**
     * Returns the optimiser state as named arrays, enough for {@link #loadState} to continue
     * identically. The arrays belong to the optimiser and stay valid until its next call.
     *
     * @return the state, keyed by names of the form {@code <parameter>/<slot>}
     */
    Map<String, NDArray> state();

    /**
     * Replaces the state by a copy of the given one (as returned by {@link #state()}).
     *
     * @param state the state to copy; the caller keeps ownership of these arrays
     */
    void loadState(Map<String, NDArray> state);

    /**
     * Returns the bytes held by the optimiser state, for memory reports.
     *
     * @return the state size in bytes
     */
    long stateBytes();

    /** Frees the state arrays. The default does nothing, for stateless optimisers. */
    @Override
    default void close() {}
}
