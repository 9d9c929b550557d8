package io.peft4j.core.spi;

import com.google.gson.JsonObject;
import io.peft4j.core.PeftModel;
import io.peft4j.core.train.AdamW;
import io.peft4j.core.train.PeftOptimizer;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * A parameter-efficient fine-tuning method, found through {@link java.util.ServiceLoader}. A method
 * module lists its implementation in {@code META-INF/services/io.peft4j.core.spi.PeftMethod};
 * peft-core names no method.
 *
 * <p>Besides reading configs and attaching adapters, a method tells tools what they need to offer
 * it without naming it: the names a user selects it by ({@link #names}), how the options every
 * method shares become its config ({@link #optionsJson}, {@link #config}), which optimiser and
 * clipping it trains with ({@link #newOptimizer}, {@link #maxGradNorm}) and the settings a
 * benchmark runs it with ({@link #benchSettings}). Only {@link #configKeys} has no default.
 */
public interface PeftMethod {

    /** {@return the {@code peft_type} this method reads and writes, e.g. {@code LORA}} */
    String peftType();

    /** {@return the config type it accepts} */
    Class<? extends AdapterConfig> configType();

    /**
     * Reads a config from {@code adapter_config.json}. Unknown keys are reported through {@code
     * warnings} and ignored; missing required keys are an {@link IllegalArgumentException} naming
     * them.
     *
     * @param json the {@code adapter_config.json} object
     * @param warnings receives a message for each unknown key
     * @return the config read
     */
    AdapterConfig parseConfig(JsonObject json, Consumer<String> warnings);

    /**
     * Attaches a new adapter named {@code name} to the model in {@code context}. On failure it must
     * leave the model as it found it.
     *
     * @param context the model and runtime to attach to
     * @param config the adapter's configuration, of {@link #configType()}
     * @param name the adapter's name
     * @return the attached adapter
     */
    Adapter attach(AdapterContext context, AdapterConfig config, String name);

    /**
     * Every {@code adapter_config.json} key {@link #parseConfig} reads (common keys included): the
     * keys a tool may set with {@code key=value} overrides.
     *
     * @return the keys
     */
    Set<String> configKeys();

    /**
     * {@return the method's name in messages and tables, e.g. {@code LoRA}; default: the peft_type}
     */
    default String displayName() {
        return peftType();
    }

    /**
     * The names a tool selects this method by (e.g. {@code peft4j train --method lora}): lower
     * case, unique across methods, the first the main one. Default: the {@code peft_type} in lower
     * case, letters and digits only.
     *
     * @return one or more names
     */
    default List<String> names() {
        return List.of(peftType().toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]", ""));
    }

    /**
     * The {@code adapter_config.json} object the common options stand for, before any override.
     * Default: peft's LoRA keys ({@code r}, {@code lora_alpha}, {@code lora_dropout}, {@code
     * target_modules}, {@code modules_to_save}, {@code task_type}) and {@code peft_type}. A method
     * whose budget or keys differ maps them here (MoS reads the rank as its equivalent rank; a
     * method without a rank drops {@code r}), so the same options work for every method.
     *
     * @param options the common options
     * @return a new JSON object, which {@link #config} then overrides and parses
     */
    default JsonObject optionsJson(MethodOptions options) {
        JsonObject json = new JsonObject();
        json.addProperty("peft_type", peftType());
        json.addProperty("r", options.rank());
        json.addProperty("lora_alpha", options.alpha());
        json.addProperty("lora_dropout", options.dropout());
        List<String> targets = options.targets();
        if (targets.size() == 1 && targets.get(0).startsWith("re:")) {
            json.addProperty("target_modules", targets.get(0).substring(3));
        } else if (targets.size() == 1 && targets.get(0).equals("all-linear")) {
            json.addProperty("target_modules", "all-linear");
        } else if (!targets.isEmpty()) {
            json.add("target_modules", ConfigJson.strings(targets));
        }
        if (!options.modulesToSave().isEmpty()) {
            json.add("modules_to_save", ConfigJson.strings(options.modulesToSave()));
        }
        if (options.taskType() != null) {
            json.addProperty("task_type", options.taskType());
        }
        return json;
    }

    /**
     * The config the common options and {@code overrides} give: {@link #optionsJson}, then each
     * override (a value is JSON when it parses as JSON, else a string: {@code 3} is a number,
     * {@code [1,2]} a list, {@code largest} a string), then {@link #parseConfig}, which checks the
     * types.
     *
     * @param options the common options
     * @param overrides {@code adapter_config.json} keys to set, in order (a later one wins)
     * @param warnings receives the method's warnings
     * @return the config
     * @throws IllegalArgumentException naming the key and the accepted keys ({@link #configKeys})
     *     for a key the method does not read, or naming the JSON and the method's reason if it
     *     refuses the config (a value of the wrong type names its key)
     */
    default AdapterConfig config(
            MethodOptions options, Map<String, String> overrides, Consumer<String> warnings) {
        JsonObject json = optionsJson(options);
        Set<String> accepted = configKeys();
        for (Map.Entry<String, String> e : overrides.entrySet()) {
            if (!accepted.contains(e.getKey())) {
                throw new IllegalArgumentException(
                        "unknown "
                                + displayName()
                                + " config key \""
                                + e.getKey()
                                + "\"; accepted keys: "
                                + String.join(", ", new TreeSet<>(accepted)));
            }
            json.add(e.getKey(), ConfigJson.fromText(e.getValue()));
        }
        try {
            return parseConfig(json, warnings);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(
                    peftType() + " config " + json + " is not valid: " + e.getMessage(), e);
        }
    }

    /**
     * A new optimiser for training {@code model}'s active adapter of this method. Default: peft4j's
     * {@link AdamW} with its defaults (torch's).
     *
     * @param model the model, with this method's adapter active
     * @return the optimiser, which the caller closes
     */
    default PeftOptimizer newOptimizer(PeftModel model) {
        return AdamW.builder().build();
    }

    /**
     * The global gradient-norm clip this method trains with, where its reference differs from the
     * trainer's default (LIFT's reference does not clip: 0).
     *
     * @return the clip, or empty for the trainer's default
     */
    default OptionalDouble maxGradNorm() {
        return OptionalDouble.empty();
    }

    /**
     * The settings benchmark harnesses run this method with; the first is its main one (the
     * per-method step harness runs only that). Default: one setting, keyed by the main name,
     * labelled with the display name, at the builder's defaults (rank 8, alpha 16, the harness's
     * adapter targets and learning rate).
     *
     * @return one or more settings, keys unique across methods
     */
    default List<BenchSetting> benchSettings() {
        return List.of(BenchSetting.builder(names().get(0), displayName()).build());
    }
}
