package io.peft4j.core.spi;

import com.google.gson.JsonObject;

/**
 * A method's adapter configuration: an immutable value that knows its {@code peft_type} and how
 * it is written to {@code adapter_config.json}.
 */
public interface AdapterConfig {

    /** The {@code peft_type} id, e.g. {@code LORA}. */
    String peftType();

    /** The JSON written to {@code adapter_config.json}, including {@code peft_type}. */
    JsonObject toJson();
}
