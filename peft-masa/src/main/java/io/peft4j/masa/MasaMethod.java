package io.peft4j.masa;

import com.google.gson.JsonObject;

import io.peft4j.core.spi.Adapter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.PeftMethod;

import java.util.function.Consumer;

/** MASA's entry in the method registry ({@code peft_type} {@value MasaConfig#PEFT_TYPE}). */
public final class MasaMethod implements PeftMethod {

    @Override
    public String peftType() {
        return MasaConfig.PEFT_TYPE;
    }

    @Override
    public Class<? extends AdapterConfig> configType() {
        return MasaConfig.class;
    }

    @Override
    public AdapterConfig parseConfig(JsonObject json, Consumer<String> warnings) {
        return MasaConfig.fromJson(json, warnings);
    }

    @Override
    public Adapter attach(AdapterContext context, AdapterConfig config, String name) {
        return MasaInjector.inject(context, (MasaConfig) config, name);
    }
}
