package io.peft4j.lora;

import io.peft4j.core.spi.AdapterParameters;
import java.util.Random;

/**
 * peft's {@code init_lora_weights=false}: A and B both random, so the adapter changes the outputs
 * from the start; for tests and debugging. Linear: A uniform with bound {@code 1/sqrt(in)}, B
 * uniform with bound {@code 1/sqrt(r)}; embedding: both standard normal.
 */
final class NonZeroInit extends LoraInitializer {

    /** The one instance: the init has no settings. */
    static final NonZeroInit INSTANCE = new NonZeroInit();

    private NonZeroInit() {}

    @Override
    public String name() {
        return "init_lora_weights=false";
    }

    @Override
    float[][] linear(Random random, int r, long in, long out) {
        return new float[][] {
            AdapterParameters.uniform(random, r * in, 1.0 / Math.sqrt((double) in)),
            AdapterParameters.uniform(random, out * r, 1.0 / Math.sqrt(r))
        };
    }

    @Override
    float[][] embedding(Random random, int r, long vocab, long dim) {
        return new float[][] {
            AdapterParameters.gaussian(random, r * vocab, 1.0),
            AdapterParameters.gaussian(random, dim * r, 1.0)
        };
    }
}
