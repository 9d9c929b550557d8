package io.peft4j.masa;

import com.google.gson.JsonObject;
import io.peft4j.core.spi.AbstractPeftMethod;
import io.peft4j.core.spi.BenchSetting;
import io.peft4j.core.spi.MethodOptions;
import java.util.List;

/**
 * MASA's entry in the method registry ({@code peft_type} {@value MasaConfig#PEFT_TYPE}, selected as
 * {@code masa}).
 */
public final class MasaMethod extends AbstractPeftMethod<MasaConfig> {

    /** The entry {@link java.util.ServiceLoader} creates. */
    public MasaMethod() {
        super(
                MasaConfig.PEFT_TYPE,
                "MASA",
                MasaConfig.class,
                MasaConfig.KNOWN,
                MasaConfig::fromJson,
                MasaInjector::inject);
    }

    /**
     * The targets, {@code modules_to_save} and {@code task_type}, with 2 atoms per dictionary: MASA
     * has no rank, alpha or dropout ({@code --set num_atoms=S} picks the budget).
     *
     * @param options the common options
     * @return the config object
     */
    @Override
    public JsonObject optionsJson(MethodOptions options) {
        JsonObject json = without(super.optionsJson(options), "r", "lora_alpha", "lora_dropout");
        json.addProperty("num_atoms", 2);
        return json;
    }

    /** {@return S=2, coefficients trained, on the attention q/k/v projections} */
    @Override
    public List<BenchSetting> benchSettings() {
        return List.of(
                BenchSetting.builder("masa", "MASA S=2 (coefficients)")
                        .targets(BenchSetting.Targets.ATTENTION)
                        .build());
    }
}
