package io.peft4j.mos;

import io.peft4j.core.spi.AbstractPeftMethod;

/** MoS's entry in the method registry ({@code peft_type} {@value MosConfig#PEFT_TYPE}). */
public final class MosMethod extends AbstractPeftMethod<MosConfig> {

    /** The entry {@link java.util.ServiceLoader} creates. */
    public MosMethod() {
        super(MosConfig.PEFT_TYPE, MosConfig.class, MosConfig::fromJson, MosInjector::inject);
    }
}
