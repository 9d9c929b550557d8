package io.peft4j.lift;

import com.google.gson.JsonObject;

import io.peft4j.core.spi.Adapter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.PeftMethod;

import java.util.function.Consumer;

/** LIFT's entry in the method registry ({@code peft_type} {@value LiftConfig#PEFT_TYPE}). */
public final class LiftMethod implements PeftMethod {

    @Override
    public String peftType() {
        return LiftConfig.PEFT_TYPE;
    }

    @Override
    public Class<? extends AdapterConfig> configType() {
        return LiftConfig.class;
    }

    @Override
    public AdapterConfig parseConfig(JsonObject json, Consumer<String> warnings) {
        return LiftConfig.fromJson(json, warnings);
    }

    @Override
    public Adapter attach(AdapterContext context, AdapterConfig config, String name) {
        return LiftInjector.inject(context, (LiftConfig) config, name);
    }
}
