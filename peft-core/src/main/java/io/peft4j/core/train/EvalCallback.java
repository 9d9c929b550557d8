package io.peft4j.core.train;

import ai.djl.ndarray.NDManager;
import java.util.Map;

/** Evaluates the model during training, e.g. the loss on a held-out set. */
@FunctionalInterface
public interface EvalCallback {

    /**
     * Evaluates the model. The trainer calls it outside gradient recording.
     *
     * @param step the number of optimiser steps completed
     * @param model the model being trained
     * @param manager a scratch manager on the training device, closed right after the call
     * @return named metrics (e.g. {@code "eval_loss"}), recorded in {@link TrainingResult}
     */
    Map<String, Double> evaluate(long step, TrainableModel model, NDManager manager);
}
