package io.peft4j.lora;

import io.peft4j.core.spi.AbstractPeftMethod;
import io.peft4j.core.spi.BenchSetting;
import java.util.List;

/**
 * LoRA's entry in the method registry ({@code peft_type} {@value LoraConfig#PEFT_TYPE}, selected as
 * {@code lora}). The common options are LoRA's own keys, so it keeps the defaults of {@link
 * io.peft4j.core.spi.PeftMethod}: AdamW and the trainer's clipping.
 */
public final class LoraMethod extends AbstractPeftMethod<LoraConfig> {

    /** The entry {@link java.util.ServiceLoader} creates. */
    public LoraMethod() {
        super(
                LoraConfig.PEFT_TYPE,
                "LoRA",
                LoraConfig.class,
                LoraConfig.KNOWN,
                LoraConfig::fromJson,
                LoraInjector::inject);
    }

    /** {@return r=8, alpha 16 on the harness's adapter targets} */
    @Override
    public List<BenchSetting> benchSettings() {
        return List.of(
                BenchSetting.builder("lora", "LoRA r=8").build(),
                // MoS's precondition: does rank beyond v = 8 help at all? alpha = 2r keeps the
                // scale of r=8, so only the rank differs
                BenchSetting.builder("lora64", "LoRA r=64 (8v)").rank(64).alpha(128).build());
    }
}
