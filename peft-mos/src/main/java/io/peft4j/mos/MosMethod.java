package io.peft4j.mos;

import com.google.gson.JsonObject;
import io.peft4j.core.spi.AbstractPeftMethod;
import io.peft4j.core.spi.BenchSetting;
import io.peft4j.core.spi.MethodOptions;
import java.util.List;

/**
 * MoS's entry in the method registry ({@code peft_type} {@value MosConfig#PEFT_TYPE}, selected as
 * {@code mos}).
 */
public final class MosMethod extends AbstractPeftMethod<MosConfig> {

    /** The entry {@link java.util.ServiceLoader} creates. */
    public MosMethod() {
        super(
                MosConfig.PEFT_TYPE,
                "MoS",
                MosConfig.class,
                MosConfig.KNOWN,
                MosConfig::fromJson,
                MosInjector::inject);
    }

    /**
     * LoRA's keys, with the rank read as MoS's budget: {@code equivalent_rank} v = rank, {@code r}
     * = 2v, 2 shards per vector, private rank 1 (the paper's setting; the same trainable count as
     * LoRA at that rank).
     *
     * @param options the common options
     * @return the config object
     */
    @Override
    public JsonObject optionsJson(MethodOptions options) {
        JsonObject json = super.optionsJson(options);
        json.addProperty("equivalent_rank", options.rank());
        json.addProperty("r", 2 * options.rank());
        json.addProperty("shards_per_vector", 2);
        json.addProperty("private_rank", 1);
        return json;
    }

    /** {@return v=8 (r=16), alpha 16 on the harness's adapter targets} */
    @Override
    public List<BenchSetting> benchSettings() {
        return List.of(BenchSetting.builder("mos", "MoS v=8 r=16").build());
    }
}
