package io.peft4j.examples.cli;

import ai.djl.nn.Parameter;
import io.peft4j.core.train.ForwardingOptimizer;
import io.peft4j.core.train.PeftOptimizer;
import java.util.Map;
import java.util.function.LongConsumer;

/** Passes every call through and reports the optimiser's state size after each step. */
final class MeasuredOptimizer extends ForwardingOptimizer {

    private final LongConsumer stateBytes;

    MeasuredOptimizer(PeftOptimizer inner, LongConsumer stateBytes) {
        super(inner);
        this.stateBytes = stateBytes;
    }

    @Override
    public void step(Map<String, Parameter> params, float learningRate) {
        inner.step(params, learningRate);
        stateBytes.accept(inner.stateBytes());
    }
}
