package io.peft4j.core.train;

import ai.djl.nn.Parameter;
import java.util.Map;

/**
 * What the trainer updates: named parameters in a stable order. {@code PeftModel} implements it.
 *
 * <p>Every returned parameter must be initialised and must not be frozen; the trainer attaches
 * gradients to these arrays and to nothing else, so any parameter not in this map stays unchanged.
 */
public interface TrainableModel {

    /**
     * Returns the parameters to train, keyed by a unique name (checkpoints store tensors under it).
     *
     * @return the trainable parameters, in a stable iteration order; never empty for training
     */
    Map<String, Parameter> trainableParameters();
}
