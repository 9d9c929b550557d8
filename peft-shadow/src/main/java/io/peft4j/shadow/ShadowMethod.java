package io.peft4j.shadow;

import io.peft4j.core.spi.AbstractPeftMethod;

/**
 * ShadowPEFT's entry in the method registry ({@code peft_type} {@value ShadowConfig#PEFT_TYPE}).
 */
public final class ShadowMethod extends AbstractPeftMethod<ShadowConfig> {

    /** The entry {@link java.util.ServiceLoader} creates. */
    public ShadowMethod() {
        super(
                ShadowConfig.PEFT_TYPE,
                ShadowConfig.class,
                ShadowConfig::fromJson,
                ShadowInjector::inject);
    }
}
