package io.peft4j.core.train;

import java.util.Map;

/**
 * The metrics an {@link EvalCallback} returned after a step.
 *
 * @param step the number of optimiser steps completed when the evaluation ran
 * @param metrics the metrics, by name
 */
public record Evaluation(long step, Map<String, Double> metrics) {

    /**
     * Copies the metrics so the record is immutable.
     *
     * @param step the number of optimiser steps completed
     * @param metrics the metrics, by name
     */
    public Evaluation {
        metrics = Map.copyOf(metrics);
    }
}
