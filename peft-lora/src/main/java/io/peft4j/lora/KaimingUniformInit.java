package io.peft4j.lora;

import io.peft4j.core.spi.AdapterParameters;
import java.util.Random;

/**
 * peft's default ({@code init_lora_weights=true}): A Kaiming-uniform with bound {@code 1/sqrt(in)}
 * (PyTorch's {@code kaiming_uniform_(a=sqrt(5))}), B zero, so the adapter starts as the identity.
 */
final class KaimingUniformInit extends LoraInitializer {

    /** The one instance: the init has no settings. */
    static final KaimingUniformInit INSTANCE = new KaimingUniformInit();

    private KaimingUniformInit() {}

    @Override
    public String name() {
        return "default init";
    }

    @Override
    float[][] linear(Random random, int r, long in, long out) {
        return new float[][] {
            AdapterParameters.uniform(random, r * in, 1.0 / Math.sqrt((double) in)),
            new float[Math.toIntExact(out * r)]
        };
    }
}
