package io.peft4j.lora;

import com.google.gson.JsonObject;

import io.peft4j.core.spi.Adapter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.PeftMethod;

import java.util.function.Consumer;

/** LoRA's entry in the method registry ({@code peft_type} {@value LoraConfig#PEFT_TYPE}). */
public final class LoraMethod implements PeftMethod {

    @Override
    public String peftType() {
        return LoraConfig.PEFT_TYPE;
    }

    @Override
    public Class<? extends AdapterConfig> configType() {
        return LoraConfig.class;
    }

    @Override
    public AdapterConfig parseConfig(JsonObject json, Consumer<String> warnings) {
        return LoraConfig.fromJson(json, warnings);
    }

    @Override
    public Adapter attach(AdapterContext context, AdapterConfig config, String name) {
        return LoraInjector.inject(context, (LoraConfig) config, name);
    }
}
