package io.peft4j.shadow;

import com.google.gson.JsonObject;

import io.peft4j.core.spi.Adapter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.PeftMethod;

import java.util.function.Consumer;

/** ShadowPEFT's entry in the method registry ({@code peft_type} {@value ShadowConfig#PEFT_TYPE}). */
public final class ShadowMethod implements PeftMethod {

    @Override
    public String peftType() {
        return ShadowConfig.PEFT_TYPE;
    }

    @Override
    public Class<? extends AdapterConfig> configType() {
        return ShadowConfig.class;
    }

    @Override
    public AdapterConfig parseConfig(JsonObject json, Consumer<String> warnings) {
        return ShadowConfig.fromJson(json, warnings);
    }

    @Override
    public Adapter attach(AdapterContext context, AdapterConfig config, String name) {
        return ShadowInjector.inject(context, (ShadowConfig) config, name);
    }
}
