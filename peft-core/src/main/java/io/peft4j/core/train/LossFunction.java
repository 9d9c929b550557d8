package io.peft4j.core.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/**
 * Computes the scalar loss of one batch. The trainer calls it inside a gradient collector, so
 * everything it computes from trainable parameters is differentiated.
 *
 * <p>To keep intermediates inside the trainer's per-step scope, start operations from the batch
 * arrays or the trainable parameters (the trainer scopes both); arrays made from other long-lived
 * arrays (a frozen weight as the first operand) attach to that array's manager and outlive the
 * step.
 */
@FunctionalInterface
public interface LossFunction {

    /**
     * Returns the loss of a batch.
     *
     * @param batch the arrays from {@link TrainingData#batch}
     * @param training true during training (enable dropout), false during evaluation
     * @return a scalar (one-element) array; for gradient accumulation to equal a bigger batch, make
     *     it a mean over the batch
     */
    NDArray loss(NDList batch, boolean training);
}
