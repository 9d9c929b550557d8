package io.peft4j.lift;

import com.google.gson.JsonObject;
import io.peft4j.core.PeftModel;
import io.peft4j.core.spi.AbstractPeftMethod;
import io.peft4j.core.spi.BenchSetting;
import io.peft4j.core.spi.MethodOptions;
import io.peft4j.core.train.PeftOptimizer;
import java.util.List;
import java.util.OptionalDouble;

/**
 * LIFT's entry in the method registry ({@code peft_type} {@value LiftConfig#PEFT_TYPE}, selected as
 * {@code lift}). It trains with its own sparse Adam ({@link LiftOptimizer}), unclipped as the
 * reference.
 */
public final class LiftMethod extends AbstractPeftMethod<LiftConfig> {

    /** The entry {@link java.util.ServiceLoader} creates. */
    public LiftMethod() {
        super(
                LiftConfig.PEFT_TYPE,
                "LIFT",
                LiftConfig.class,
                LiftConfig.KNOWN,
                LiftConfig::fromJson,
                LiftInjector::inject);
    }

    /**
     * The rank (LIFT's budget rank), targets, {@code modules_to_save} and {@code task_type}: LIFT
     * has no alpha or dropout.
     *
     * @param options the common options
     * @return the config object
     */
    @Override
    public JsonObject optionsJson(MethodOptions options) {
        return without(super.optionsJson(options), "lora_alpha", "lora_dropout");
    }

    /**
     * LIFT's sparse Adam, which also refreshes the masks every {@code update_interval} steps.
     *
     * @param model the model, with a LIFT adapter active
     * @return the optimiser
     * @throws IllegalArgumentException if the active adapter is not a LIFT adapter
     */
    @Override
    public PeftOptimizer newOptimizer(PeftModel model) {
        return LiftOptimizer.forModel(model);
    }

    /** {@return {@link LiftOptimizer#REFERENCE_MAX_GRAD_NORM}: the reference does not clip} */
    @Override
    public OptionalDouble maxGradNorm() {
        return OptionalDouble.of(LiftOptimizer.REFERENCE_MAX_GRAD_NORM);
    }

    /**
     * {@return r=8 on all linear layers, and full fine-tuning as LIFT with k = mn ({@code
     * density=1.0}) at a tenth of the rate on a classifier (BERT-sized full FT diverges at adapter
     * rates)}
     */
    @Override
    public List<BenchSetting> benchSettings() {
        return List.of(
                BenchSetting.builder("lift", "LIFT r=8 largest")
                        .targets(BenchSetting.Targets.ALL_LINEAR)
                        .build(),
                // the released scripts' selection (sparseAdam.py's lift_sparse: the smallest)
                BenchSetting.builder("lift-smallest", "LIFT r=8 smallest")
                        .targets(BenchSetting.Targets.ALL_LINEAR)
                        .set("mask_selection", "smallest")
                        .build(),
                BenchSetting.builder("full", "full FT (all linear weights; LIFT k=mn)")
                        .targets(BenchSetting.Targets.ALL_LINEAR)
                        .set("density", "1.0")
                        .learningRateScale("SEQ_CLS", 0.1)
                        .build());
    }
}
