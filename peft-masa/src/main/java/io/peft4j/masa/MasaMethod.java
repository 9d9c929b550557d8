package io.peft4j.masa;

import io.peft4j.core.spi.AbstractPeftMethod;

/** MASA's entry in the method registry ({@code peft_type} {@value MasaConfig#PEFT_TYPE}). */
public final class MasaMethod extends AbstractPeftMethod<MasaConfig> {

    /** The entry {@link java.util.ServiceLoader} creates. */
    public MasaMethod() {
        super(MasaConfig.PEFT_TYPE, MasaConfig.class, MasaConfig::fromJson, MasaInjector::inject);
    }
}
