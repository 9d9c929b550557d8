package io.peft4j.shadow;

import com.google.gson.JsonObject;
import io.peft4j.core.spi.AbstractPeftMethod;
import io.peft4j.core.spi.BenchSetting;
import io.peft4j.core.spi.MethodOptions;
import java.util.List;

/**
 * ShadowPEFT's entry in the method registry ({@code peft_type} {@value ShadowConfig#PEFT_TYPE},
 * selected as {@code shadow}).
 */
public final class ShadowMethod extends AbstractPeftMethod<ShadowConfig> {

    /** The entry {@link java.util.ServiceLoader} creates. */
    public ShadowMethod() {
        super(
                ShadowConfig.PEFT_TYPE,
                "ShadowPEFT",
                ShadowConfig.class,
                ShadowConfig.KNOWN,
                ShadowConfig::fromJson,
                ShadowInjector::inject);
    }

    /**
     * Only {@code modules_to_save} and {@code task_type}: ShadowPEFT has no rank, alpha or targets
     * (its side network follows the base), so it keeps its own defaults for the rest.
     *
     * @param options the common options
     * @return the config object
     */
    @Override
    public JsonObject optionsJson(MethodOptions options) {
        return without(
                super.optionsJson(options), "r", "lora_alpha", "lora_dropout", "target_modules");
    }

    /** {@return its defaults, no targets} */
    @Override
    public List<BenchSetting> benchSettings() {
        return List.of(
                BenchSetting.builder("shadow", "ShadowPEFT")
                        .targets(BenchSetting.Targets.NONE)
                        .build());
    }
}
