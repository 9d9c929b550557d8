package io.peft4j.spark;

import io.peft4j.core.PeftModel;
import io.peft4j.core.train.AdamW;
import io.peft4j.core.train.PeftOptimizer;
import java.io.Serializable;

/**
 * Creates each worker's optimiser for its model. peft-core's method SPI has no hook through which a
 * method names its own optimiser, so a method that brings one (LIFT's sparse Adam) is passed here:
 * {@code OptimizerFactory lift = LiftOptimizer::forModel}.
 */
@FunctionalInterface
public interface OptimizerFactory extends Serializable {

    /**
     * @param model the worker's model, with the adapter being trained active
     * @return a new optimiser
     */
    PeftOptimizer create(PeftModel model);

    /**
     * @return peft-core's {@link AdamW} with its defaults (no weight decay)
     */
    static OptimizerFactory adamW() {
        return model -> AdamW.builder().build();
    }
}
