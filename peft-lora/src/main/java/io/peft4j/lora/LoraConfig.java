package io.peft4j.lora;

import static io.peft4j.core.spi.ConfigJson.has;

import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableMap;
import com.google.common.collect.Sets;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import io.peft4j.core.config.ConfigKey;
import io.peft4j.core.config.ConfigValues;
import io.peft4j.core.spi.ConfigJson;
import io.peft4j.core.spi.LowRankConfig;
import io.peft4j.core.target.PatternValues;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * LoRA's configuration, field for field Hugging Face peft's {@code LoraConfig} where we support the
 * feature: {@code y = W x + s * B A dropout(x)}, {@code s = alpha / r} (rsLoRA: {@code alpha /
 * sqrt(r)}). Defaults as peft: r 8, alpha 8, dropout 0.
 */
public final class LoraConfig extends LowRankConfig {

    /** The {@code peft_type} of LoRA. */
    public static final String PEFT_TYPE = "LORA";

    // The method's own settings, each declared once: JSON key, default, check.
    private static final Keys LOW_RANK = Keys.of("LoRA", 8, 8, 0);
    private static final ConfigKey<Boolean> USE_RSLORA = ConfigKey.ofBool("use_rslora", false);
    private static final ConfigKey<Boolean> USE_DORA = ConfigKey.ofBool("use_dora", false);
    // Written here; read entry by entry in read(), each value checked by the builder.
    private static final ConfigKey<Map<String, Integer>> RANK_PATTERN =
            ConfigKey.of("rank_pattern", ImmutableMap.of(), null, LoraConfig::mapJson);
    private static final ConfigKey<Map<String, Float>> ALPHA_PATTERN =
            ConfigKey.of("alpha_pattern", ImmutableMap.of(), null, LoraConfig::mapJson);
    // init_lora_weights holds both (initJson, parseInit)
    private static final ConfigKey<LoraInit> INIT = ConfigKey.internal("init", LoraInit.DEFAULT);
    private static final ConfigKey<Integer> PISSA_ITERATIONS =
            ConfigKey.internal("pissa_iterations", 0)
                    .check(n -> n >= 0, "pissa iterations must be >= 0, got %s");
    // peft has no key for it
    private static final ConfigKey<Long> SEED = ConfigKey.internal("seed", 0L);

    private static final ConfigValues DEFAULTS =
            LOW_RANK.defaultsWith(
                    USE_RSLORA,
                    USE_DORA,
                    RANK_PATTERN,
                    ALPHA_PATTERN,
                    INIT,
                    PISSA_ITERATIONS,
                    SEED);

    /** Keys of peft's LoraConfig that we read and honour. */
    // package-private: the method entry offers these keys to tools (--set)
    static final Set<String> KNOWN =
            ConfigJson.targetedKeys(
                    DEFAULTS.jsonKeys(), "init_lora_weights", "bias", "fan_in_fan_out", "revision");

    /** Keys peft writes whose default value changes nothing here; a non-default is refused. */
    private static final Map<String, JsonElement> HARMLESS_AT_DEFAULT = harmlessDefaults();

    /** {@link #KNOWN} and {@link #HARMLESS_AT_DEFAULT}: the keys that draw no warning. */
    private static final Set<String> NO_WARNING = Sets.union(KNOWN, HARMLESS_AT_DEFAULT.keySet());

    private LoraConfig(Builder b) {
        super(PEFT_TYPE, b);
    }

    /** {@return a builder with peft's defaults (targets must be set)} */
    public static Builder builder() {
        return new Builder();
    }

    /** {@return a builder holding this config's values} */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** {@return whether the scale is {@code alpha / sqrt(r)}} */
    public boolean useRslora() {
        return value(USE_RSLORA);
    }

    /** {@return whether DoRA (weight-decomposed LoRA) is used on linear layers} */
    public boolean useDora() {
        return value(USE_DORA);
    }

    /** {@return how A and B start} */
    public LoraInit init() {
        return value(INIT);
    }

    /** {@return power iterations of the randomized SVD for PiSSA (peft's {@code pissa_niter_N})} */
    public int pissaIterations() {
        return value(PISSA_ITERATIONS);
    }

    /** {@return per-module ranks by pattern} */
    public Map<String, Integer> rankPattern() {
        return value(RANK_PATTERN);
    }

    /** {@return per-module alphas by pattern} */
    public Map<String, Float> alphaPattern() {
        return value(ALPHA_PATTERN);
    }

    /** {@return seed of the random initialization (not part of peft's file)} */
    public long seed() {
        return value(SEED);
    }

    /**
     * The rank of the module at {@code path}: its {@code rank_pattern} entry, else {@link #rank()}.
     *
     * @param path the module's dotted path
     * @return its rank
     */
    public int rankFor(String path) {
        return PatternValues.lookup(rankPattern(), path, rank());
    }

    /**
     * The alpha of the module at {@code path}: its {@code alpha_pattern} entry, else {@link
     * #alpha()}.
     *
     * @param path the module's dotted path
     * @return its alpha
     */
    public float alphaFor(String path) {
        return PatternValues.lookup(alphaPattern(), path, alpha());
    }

    /**
     * The scale {@code s} of the module at {@code path}: alpha / r, or alpha / sqrt(r) with rsLoRA.
     *
     * @param path the module's dotted path
     * @return its scale
     */
    public float scalingFor(String path) {
        return scaling().of(alphaFor(path), rankFor(path));
    }

    // The strategies the layers use. Adding a variant, an init or a scaling is one new class
    // plus its selection here (and its key in toJson/fromJson).

    /** {@return how the scale follows from alpha and r: {@code use_rslora}} */
    LoraScaling scaling() {
        return useRslora() ? LoraScaling.RANK_STABILIZED : LoraScaling.STANDARD;
    }

    /** {@return what each adapter computes on top of A and B: {@code use_dora}} */
    LoraVariant.Choice variant() {
        return useDora() ? DoraLinearVariant.CHOICE : PlainLoraVariant.CHOICE;
    }

    /** {@return how A and B start: {@code init_lora_weights}} */
    LoraInitializer initializer() {
        switch (init()) {
            case DEFAULT:
                return KaimingUniformInit.INSTANCE;
            case GAUSSIAN:
                return GaussianInit.INSTANCE;
            case RANDOM:
                return NonZeroInit.INSTANCE;
            case PISSA:
                return new PissaInit(pissaIterations(), seed());
            case OLORA:
                return OloraInit.INSTANCE;
            default:
                throw new AssertionError(init());
        }
    }

    @Override
    public JsonObject toJson() {
        JsonObject j = new JsonObject();
        j.add("auto_mapping", JsonNull.INSTANCE);
        j.addProperty("bias", "none");
        j.addProperty("fan_in_fan_out", false);
        j.add("init_lora_weights", initJson());
        // peft's LoraConfig writes null for no modules_to_save, where the other methods leave it
        // out
        j.add(
                "modules_to_save",
                modulesToSave().isEmpty()
                        ? JsonNull.INSTANCE
                        : ConfigJson.strings(modulesToSave()));
        j.add("revision", JsonNull.INSTANCE);
        JsonObject out = sortedJson(j);
        if (targets().layersPattern().size() == 1) {
            // peft's LoraConfig takes a lone layers_pattern as a string: write it back the way it
            // came
            out.addProperty("layers_pattern", targets().layersPattern().get(0));
        }
        return out;
    }

    private JsonElement initJson() {
        int pissaIterations = pissaIterations();
        switch (init()) {
            case DEFAULT:
                return new JsonPrimitive(true);
            case GAUSSIAN:
                return new JsonPrimitive("gaussian");
            case RANDOM:
                return new JsonPrimitive(false);
            case PISSA:
                return new JsonPrimitive(
                        pissaIterations > 0 ? "pissa_niter_" + pissaIterations : "pissa");
            case OLORA:
                return new JsonPrimitive("olora");
            default:
                throw new AssertionError(init());
        }
    }

    /**
     * Reads peft's {@code adapter_config.json} object. Unknown keys are reported to {@code
     * warnings}; features we cannot reproduce are refused.
     *
     * @param j the parsed {@code adapter_config.json}
     * @param warnings receives one message per ignored key
     * @return the config
     */
    public static LoraConfig fromJson(JsonObject j, Consumer<String> warnings) {
        return read(j, warnings).build();
    }

    private static Builder read(JsonObject j, Consumer<String> warnings) {
        Builder b = builder();
        ConfigJson.require(j, "LoRA", "r", "target_modules");
        ConfigJson.read(j, b);
        if (has(j, "rank_pattern")) {
            ConfigJson.objectValue(j.get("rank_pattern"), "rank_pattern")
                    .entrySet()
                    .forEach(
                            e ->
                                    b.rankPattern(
                                            e.getKey(),
                                            ConfigJson.intValue(
                                                    e.getValue(), "rank_pattern." + e.getKey())));
        }
        if (has(j, "alpha_pattern")) {
            ConfigJson.objectValue(j.get("alpha_pattern"), "alpha_pattern")
                    .entrySet()
                    .forEach(
                            e ->
                                    b.alphaPattern(
                                            e.getKey(),
                                            ConfigJson.floatValue(
                                                    e.getValue(), "alpha_pattern." + e.getKey())));
        }
        if (has(j, "init_lora_weights")) {
            parseInit(j.get("init_lora_weights"), b);
        }
        ConfigJson.requireOnly(j, "bias", "none", "LoRA");
        if (has(j, "fan_in_fan_out")
                && ConfigJson.boolValue(j.get("fan_in_fan_out"), "fan_in_fan_out")) {
            throw new IllegalArgumentException(
                    "fan_in_fan_out=true (GPT-2 Conv1D weights) is not supported");
        }
        for (Map.Entry<String, JsonElement> e : HARMLESS_AT_DEFAULT.entrySet()) {
            JsonElement v = j.get(e.getKey());
            if (v != null && !v.isJsonNull() && !v.equals(e.getValue())) {
                throw new IllegalArgumentException(
                        "\""
                                + e.getKey()
                                + "\": "
                                + v
                                + " is not supported by peft4j's LoRA (only "
                                + e.getValue()
                                + " or null)");
            }
        }
        ConfigJson.warnUnknown(j, NO_WARNING, "LoRA", warnings);
        return b;
    }

    private static void parseInit(JsonElement v, Builder b) {
        if (v.isJsonPrimitive() && v.getAsJsonPrimitive().isBoolean()) {
            b.init(v.getAsBoolean() ? LoraInit.DEFAULT : LoraInit.RANDOM);
            return;
        }
        String s = v.getAsString();
        if (s.equals("gaussian")) {
            b.init(LoraInit.GAUSSIAN);
        } else if (s.equals("olora")) {
            b.init(LoraInit.OLORA);
        } else if (s.equals("pissa")) {
            b.init(LoraInit.PISSA).pissaIterations(0);
        } else if (s.startsWith("pissa_niter_")) {
            b.init(LoraInit.PISSA)
                    .pissaIterations(Integer.parseInt(s.substring("pissa_niter_".length())));
        } else {
            throw new IllegalArgumentException(
                    "init_lora_weights=\""
                            + s
                            + "\" is not supported; expected true, false,"
                            + " \"gaussian\", \"olora\", \"pissa\" or \"pissa_niter_N\"");
        }
    }

    private static Map<String, JsonElement> harmlessDefaults() {
        Map<String, JsonElement> m = new LinkedHashMap<>();
        m.put("auto_mapping", JsonNull.INSTANCE);
        m.put("megatron_config", JsonNull.INSTANCE);
        m.put("megatron_core", new JsonPrimitive("megatron.core"));
        m.put("loftq_config", new JsonObject());
        m.put("layer_replication", JsonNull.INSTANCE);
        m.put("lora_bias", new JsonPrimitive(false));
        m.put("use_qalora", new JsonPrimitive(false));
        m.put("qalora_group_size", new JsonPrimitive(16));
        m.put("target_parameters", JsonNull.INSTANCE);
        m.put("trainable_token_indices", JsonNull.INSTANCE);
        m.put("eva_config", JsonNull.INSTANCE);
        m.put("corda_config", JsonNull.INSTANCE);
        m.put("alora_invocation_tokens", JsonNull.INSTANCE);
        m.put("arrow_config", JsonNull.INSTANCE);
        m.put("ensure_weight_tying", new JsonPrimitive(false));
        m.put("peft_version", JsonNull.INSTANCE);
        m.put("runtime_config", JsonNull.INSTANCE);
        return m;
    }

    private static <T extends Number> JsonObject mapJson(Map<String, T> m) {
        JsonObject o = new JsonObject();
        m.forEach((k, v) -> o.addProperty(k, v));
        return o;
    }

    /**
     * {@code m} with {@code key} set to {@code value}, in insertion order (a new key goes last).
     */
    private static <T> ImmutableMap<String, T> with(Map<String, T> m, String key, T value) {
        Map<String, T> copy = new LinkedHashMap<>(m);
        copy.put(key, value);
        return ImmutableMap.copyOf(copy);
    }

    /** Builder of {@link LoraConfig}. */
    public static final class Builder extends LowRankConfig.Builder<Builder> {

        private Builder() {
            super(LOW_RANK, DEFAULTS);
        }

        private Builder(LoraConfig config) {
            super(config);
        }

        /**
         * rsLoRA scaling {@code alpha / sqrt(r)}.
         *
         * @param on rsLoRA scaling {@code alpha / sqrt(r)}
         * @return this builder
         */
        public Builder useRslora(boolean on) {
            return set(USE_RSLORA, on);
        }

        /**
         * DoRA on linear layers.
         *
         * @param on DoRA on linear layers
         * @return this builder
         */
        public Builder useDora(boolean on) {
            return set(USE_DORA, on);
        }

        /**
         * Initialization.
         *
         * @param init initialization
         * @return this builder
         */
        public Builder init(LoraInit init) {
            return set(INIT, Preconditions.checkNotNull(init));
        }

        /**
         * Power iterations of PiSSA's randomized SVD (0: exact-ish default of 4 passes).
         *
         * @param n power iterations of PiSSA's randomized SVD (0: exact-ish default of 4 passes)
         * @return this builder
         */
        public Builder pissaIterations(int n) {
            return set(PISSA_ITERATIONS, n);
        }

        /**
         * Rank of modules whose path matches a pattern ({@code rank_pattern}).
         *
         * @param pattern a module-path pattern, as in peft
         * @param rank the rank of the matching modules (&gt; 0)
         * @return this builder
         */
        public Builder rankPattern(String pattern, int rank) {
            Preconditions.checkArgument(
                    rank > 0, "rank_pattern '%s' rank must be > 0, got %s", pattern, rank);
            return set(RANK_PATTERN, with(get(RANK_PATTERN), pattern, rank));
        }

        /**
         * Alpha of modules whose path matches a pattern ({@code alpha_pattern}).
         *
         * @param pattern a module-path pattern, as in peft
         * @param alpha the alpha of the matching modules
         * @return this builder
         */
        public Builder alphaPattern(String pattern, float alpha) {
            Preconditions.checkArgument(
                    Float.isFinite(alpha),
                    "alpha_pattern '%s' alpha must be finite, got %s",
                    pattern,
                    alpha);
            return set(ALPHA_PATTERN, with(get(ALPHA_PATTERN), pattern, alpha));
        }

        /**
         * Seed of the random initialization.
         *
         * @param seed seed of the random initialization
         * @return this builder
         */
        public Builder seed(long seed) {
            return set(SEED, seed);
        }

        /**
         * Builds the config.
         *
         * @return the config
         */
        public LoraConfig build() {
            return new LoraConfig(this);
        }
    }
}
