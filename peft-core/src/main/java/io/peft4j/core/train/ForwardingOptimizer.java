package io.peft4j.core.train;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import java.util.Map;
import java.util.Objects;

/**
 * An optimiser that wraps another and passes every call through to it: a subclass overrides {@link
 * #step} to do something around the wrapped step (measure it, exchange gradients first), while the
 * state (checkpointed by {@link FineTuner}) stays the wrapped optimiser's own.
 */
public abstract class ForwardingOptimizer implements PeftOptimizer {

    /** The wrapped optimiser. */
    protected final PeftOptimizer inner;

    /**
     * Wraps an optimiser.
     *
     * @param inner the optimiser every call goes to
     */
    protected ForwardingOptimizer(PeftOptimizer inner) {
        this.inner = Objects.requireNonNull(inner, "inner optimiser");
    }

    @Override
    public void step(Map<String, Parameter> params, float learningRate) {
        inner.step(params, learningRate);
    }

    @Override
    public Map<String, NDArray> state() {
        return inner.state();
    }

    @Override
    public void loadState(Map<String, NDArray> state) {
        inner.loadState(state);
    }

    @Override
    public long stateBytes() {
        return inner.stateBytes();
    }

    @Override
    public void close() {
        inner.close();
    }
}
