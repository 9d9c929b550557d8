package io.peft4j.lora;

import io.peft4j.core.spi.AbstractPeftMethod;

/** LoRA's entry in the method registry ({@code peft_type} {@value LoraConfig#PEFT_TYPE}). */
public final class LoraMethod extends AbstractPeftMethod<LoraConfig> {

    /** The entry {@link java.util.ServiceLoader} creates. */
    public LoraMethod() {
        super(LoraConfig.PEFT_TYPE, LoraConfig.class, LoraConfig::fromJson, LoraInjector::inject);
    }
}
