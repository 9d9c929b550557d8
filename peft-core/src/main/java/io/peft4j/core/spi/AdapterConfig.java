package io.peft4j.core.spi;

import com.google.gson.JsonObject;
import java.util.List;

/**
 * A method's adapter configuration: an immutable value that knows its {@code peft_type} and how it
 * is written to {@code adapter_config.json}.
 */
public interface AdapterConfig {

    /** {@return the {@code peft_type} id, e.g. {@code LORA}} */
    String peftType();

    /** {@return the JSON written to {@code adapter_config.json}, including {@code peft_type}} */
    JsonObject toJson();

    /**
     * Modules trained in full next to the adapter and saved with it (peft's {@code
     * modules_to_save}, e.g. a new classifier head). Names match as targets do: the path itself or
     * a {@code .name} suffix. PeftModel handles them the same way for every method.
     *
     * @return the module names; empty by default
     */
    default List<String> modulesToSave() {
        return List.of();
    }
}
