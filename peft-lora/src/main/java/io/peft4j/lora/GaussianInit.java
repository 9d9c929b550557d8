package io.peft4j.lora;

import io.peft4j.core.spi.AdapterParameters;
import java.util.Random;

/** peft's {@code init_lora_weights="gaussian"}: A ~ N(0, (1/r)^2), B zero. */
final class GaussianInit extends LoraInitializer {

    /** The one instance: the init has no settings. */
    static final GaussianInit INSTANCE = new GaussianInit();

    private GaussianInit() {}

    @Override
    public String name() {
        return "gaussian init";
    }

    @Override
    float[][] linear(Random random, int r, long in, long out) {
        return new float[][] {
            AdapterParameters.gaussian(random, r * in, 1.0 / r), new float[Math.toIntExact(out * r)]
        };
    }
}
