package io.peft4j.core.spi;

import com.google.gson.JsonObject;
import java.util.function.Consumer;

/**
 * A parameter-efficient fine-tuning method, found through {@link java.util.ServiceLoader}. A method
 * module lists its implementation in {@code META-INF/services/io.peft4j.core.spi.PeftMethod};
 * peft-core names no method.
 */
public interface PeftMethod {

    /** {@return the {@code peft_type} this method reads and writes, e.g. {@code LORA}} */
    String peftType();

    /** {@return the config type it accepts} */
    Class<? extends AdapterConfig> configType();

    /**
     * Reads a config from {@code adapter_config.json}. Unknown keys are reported through {@code
     * warnings} and ignored; missing required keys are an {@link IllegalArgumentException} naming
     * them.
     *
     * @param json the {@code adapter_config.json} object
     * @param warnings receives a message for each unknown key
     * @return the config read
     */
    AdapterConfig parseConfig(JsonObject json, Consumer<String> warnings);

    /**
     * Attaches a new adapter named {@code name} to the model in {@code context}. On failure it must
     * leave the model as it found it.
     *
     * @param context the model and runtime to attach to
     * @param config the adapter's configuration, of {@link #configType()}
     * @param name the adapter's name
     * @return the attached adapter
     */
    Adapter attach(AdapterContext context, AdapterConfig config, String name);
}
