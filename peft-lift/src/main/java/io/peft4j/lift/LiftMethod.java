package io.peft4j.lift;

import io.peft4j.core.spi.AbstractPeftMethod;

/** LIFT's entry in the method registry ({@code peft_type} {@value LiftConfig#PEFT_TYPE}). */
public final class LiftMethod extends AbstractPeftMethod<LiftConfig> {

    /** The entry {@link java.util.ServiceLoader} creates. */
    public LiftMethod() {
        super(LiftConfig.PEFT_TYPE, LiftConfig.class, LiftConfig::fromJson, LiftInjector::inject);
    }
}
