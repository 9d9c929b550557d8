package io.peft4j.testing.toy;

import io.peft4j.core.spi.AbstractPeftMethod;

/**
 * A test-only method, registered through this module's test resources ({@code
 * META-INF/services/io.peft4j.core.spi.PeftMethod}), that proves a method reaches every tool with
 * no edit outside its own files: {@code peft4j train --method toy}, the bench harnesses and the
 * contract suite. It keeps every default of {@link io.peft4j.core.spi.PeftMethod}: name {@code
 * toy}, LoRA's common keys (it reads only the targets; rank and alpha draw a warning), AdamW, one
 * bench setting.
 */
public final class ToyMethod extends AbstractPeftMethod<ToyConfig> {

    /** The entry {@link java.util.ServiceLoader} creates. */
    public ToyMethod() {
        super(
                ToyConfig.PEFT_TYPE,
                "Toy",
                ToyConfig.class,
                ToyConfig.KNOWN,
                ToyConfig::fromJson,
                ToyAdapter::inject);
    }
}
