package io.peft4j.examples.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;

import io.peft4j.core.train.PeftOptimizer;

import java.util.Map;
import java.util.function.LongConsumer;

/** Passes every call through and reports the optimiser's state size after each step. */
final class MeasuredOptimizer implements PeftOptimizer {

    private final PeftOptimizer inner;
    private final LongConsumer stateBytes;

    MeasuredOptimizer(PeftOptimizer inner, LongConsumer stateBytes) {
        this.inner = inner;
        this.stateBytes = stateBytes;
    }

    @Override
    public void step(Map<String, Parameter> params, float learningRate) {
        inner.step(params, learningRate);
        stateBytes.accept(inner.stateBytes());
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
