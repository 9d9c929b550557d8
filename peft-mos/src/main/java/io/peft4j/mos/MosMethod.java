package io.peft4j.mos;

import com.google.gson.JsonObject;

import io.peft4j.core.spi.Adapter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.PeftMethod;

import java.util.function.Consumer;

/** MoS's entry in the method registry ({@code peft_type} {@value MosConfig#PEFT_TYPE}). */
public final class MosMethod implements PeftMethod {

    @Override
    public String peftType() {
        return MosConfig.PEFT_TYPE;
    }

    @Override
    public Class<? extends AdapterConfig> configType() {
        return MosConfig.class;
    }

    @Override
    public AdapterConfig parseConfig(JsonObject json, Consumer<String> warnings) {
        return MosConfig.fromJson(json, warnings);
    }

    @Override
    public Adapter attach(AdapterContext context, AdapterConfig config, String name) {
        return MosInjector.inject(context, (MosConfig) config, name);
    }
}
