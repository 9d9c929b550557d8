package io.peft4j.lora;

import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;

import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.target.PatternValues;
import io.peft4j.core.target.TargetSpec;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;

/**
 * LoRA's configuration, field for field Hugging Face peft's {@code LoraConfig} where we support
 * the feature: {@code y = W x + s * B A dropout(x)}, {@code s = alpha / r} (rsLoRA: {@code alpha /
 * sqrt(r)}). Defaults as peft: r 8, alpha 8, dropout 0.
 */
public final class LoraConfig implements AdapterConfig {

    /** The {@code peft_type} of LoRA. */
    public static final String PEFT_TYPE = "LORA";

    /** Keys of peft's LoraConfig that we read and honour. */
    private static final Set<String> KNOWN = Set.of(
            "peft_type", "r", "lora_alpha", "lora_dropout", "target_modules", "exclude_modules",
            "layers_to_transform", "layers_pattern", "rank_pattern", "alpha_pattern", "use_rslora",
            "use_dora", "init_lora_weights", "bias", "fan_in_fan_out", "modules_to_save",
            "base_model_name_or_path", "task_type", "inference_mode", "revision");
    /** Keys peft writes whose default value changes nothing here; a non-default is refused. */
    private static final Map<String, JsonElement> HARMLESS_AT_DEFAULT = harmlessDefaults();

    private final int rank;
    private final float alpha;
    private final float dropout;
    private final TargetSpec targets;
    private final boolean useRslora;
    private final boolean useDora;
    private final LoraInit init;
    private final int pissaIterations;
    private final ImmutableMap<String, Integer> rankPattern;
    private final ImmutableMap<String, Float> alphaPattern;
    private final ImmutableList<String> modulesToSave;
    private final String taskType;
    private final String baseModelNameOrPath;
    private final long seed;

    private LoraConfig(Builder b) {
        this.rank = b.rank;
        this.alpha = b.alpha;
        this.dropout = b.dropout;
        this.targets = b.targets.build();
        this.useRslora = b.useRslora;
        this.useDora = b.useDora;
        this.init = b.init;
        this.pissaIterations = b.pissaIterations;
        this.rankPattern = ImmutableMap.copyOf(b.rankPattern);
        this.alphaPattern = ImmutableMap.copyOf(b.alphaPattern);
        this.modulesToSave = ImmutableList.copyOf(b.modulesToSave);
        this.taskType = b.taskType;
        this.baseModelNameOrPath = b.baseModelNameOrPath;
        this.seed = b.seed;
    }

    /** A builder with peft's defaults (targets must be set). */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this config's values. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.rank = rank;
        b.alpha = alpha;
        b.dropout = dropout;
        b.targets = targets.toBuilder();
        b.useRslora = useRslora;
        b.useDora = useDora;
        b.init = init;
        b.pissaIterations = pissaIterations;
        b.rankPattern = new LinkedHashMap<>(rankPattern);
        b.alphaPattern = new LinkedHashMap<>(alphaPattern);
        b.modulesToSave = new ArrayList<>(modulesToSave);
        b.taskType = taskType;
        b.baseModelNameOrPath = baseModelNameOrPath;
        b.seed = seed;
        return b;
    }

    @Override
    public String peftType() {
        return PEFT_TYPE;
    }

    /** Default rank {@code r}. */
    public int rank() {
        return rank;
    }

    /** Default {@code lora_alpha}. */
    public float alpha() {
        return alpha;
    }

    /** {@code lora_dropout}, applied to the adapter's input in training. */
    public float dropout() {
        return dropout;
    }

    /** Which modules get an adapter. */
    public TargetSpec targets() {
        return targets;
    }

    /** Whether the scale is {@code alpha / sqrt(r)}. */
    public boolean useRslora() {
        return useRslora;
    }

    /** Whether DoRA (weight-decomposed LoRA) is used on linear layers. */
    public boolean useDora() {
        return useDora;
    }

    /** How A and B start. */
    public LoraInit init() {
        return init;
    }

    /** Power iterations of the randomized SVD for PiSSA (peft's {@code pissa_niter_N}). */
    public int pissaIterations() {
        return pissaIterations;
    }

    /** Per-module ranks by pattern. */
    public Map<String, Integer> rankPattern() {
        return rankPattern;
    }

    /** Per-module alphas by pattern. */
    public Map<String, Float> alphaPattern() {
        return alphaPattern;
    }

    /** Modules trained in full and saved with the adapter (a classifier head, say). */
    @Override
    public List<String> modulesToSave() {
        return modulesToSave;
    }

    /** peft's {@code task_type}, or {@code null}. */
    public String taskType() {
        return taskType;
    }

    /** Seed of the random initialization (not part of peft's file). */
    public long seed() {
        return seed;
    }

    /** The rank of the module at {@code path}. */
    public int rankFor(String path) {
        return PatternValues.lookup(rankPattern, path, rank);
    }

    /** The alpha of the module at {@code path}. */
    public float alphaFor(String path) {
        return PatternValues.lookup(alphaPattern, path, alpha);
    }

    /** The scale {@code s} of the module at {@code path}. */
    public float scalingFor(String path) {
        int r = rankFor(path);
        float a = alphaFor(path);
        return useRslora ? (float) (a / Math.sqrt(r)) : a / r;
    }

    @Override
    public JsonObject toJson() {
        JsonObject j = new JsonObject();
        j.add("alpha_pattern", mapJson(alphaPattern));
        j.add("auto_mapping", JsonNull.INSTANCE);
        j.add("base_model_name_or_path", str(baseModelNameOrPath));
        j.addProperty("bias", "none");
        j.add("exclude_modules", targets.excludeRegex().isPresent()
                ? new JsonPrimitive(targets.excludeRegex().get())
                : targets.excludeNames().isEmpty() ? JsonNull.INSTANCE : list(targets.excludeNames()));
        j.addProperty("fan_in_fan_out", false);
        j.addProperty("inference_mode", false);
        j.add("init_lora_weights", initJson());
        j.add("layers_pattern", targets.layersPattern().isEmpty() ? JsonNull.INSTANCE
                : targets.layersPattern().size() == 1 ? new JsonPrimitive(targets.layersPattern().get(0))
                : list(targets.layersPattern()));
        JsonElement layers = JsonNull.INSTANCE;
        if (!targets.layersToTransform().isEmpty()) {
            JsonArray a = new JsonArray();
            targets.layersToTransform().stream().sorted().forEach(a::add);
            layers = a;
        }
        j.add("layers_to_transform", layers);
        j.addProperty("lora_alpha", alpha == Math.rint(alpha) ? (Number) (int) alpha : alpha);
        j.addProperty("lora_dropout", dropout);
        j.add("modules_to_save", modulesToSave.isEmpty() ? JsonNull.INSTANCE : list(modulesToSave));
        j.addProperty("peft_type", PEFT_TYPE);
        j.addProperty("r", rank);
        j.add("rank_pattern", mapJson(rankPattern));
        j.add("revision", JsonNull.INSTANCE);
        j.add("target_modules", targets.targetRegex().isPresent()
                ? new JsonPrimitive(targets.targetRegex().get())
                : list(targets.targetNames()));
        j.add("task_type", str(taskType));
        j.addProperty("use_dora", useDora);
        j.addProperty("use_rslora", useRslora);
        return j;
    }

    private JsonElement initJson() {
        switch (init) {
            case DEFAULT:
                return new JsonPrimitive(true);
            case GAUSSIAN:
                return new JsonPrimitive("gaussian");
            case RANDOM:
                return new JsonPrimitive(false);
            case PISSA:
                return new JsonPrimitive(pissaIterations > 0 ? "pissa_niter_" + pissaIterations : "pissa");
            default:
                throw new AssertionError(init);
        }
    }

    /**
     * Reads peft's {@code adapter_config.json} object. Unknown keys are reported to {@code
     * warnings}; features we cannot reproduce are refused.
     */
    public static LoraConfig fromJson(JsonObject j, Consumer<String> warnings) {
        Builder b = builder();
        require(j, "r");
        require(j, "target_modules");
        b.rank(intValue(j.get("r"), "r"));
        if (has(j, "lora_alpha")) {
            b.alpha(j.get("lora_alpha").getAsFloat());
        }
        if (has(j, "lora_dropout")) {
            b.dropout(j.get("lora_dropout").getAsFloat());
        }
        JsonElement t = j.get("target_modules");
        if (t.isJsonArray()) {
            b.targets(strings(t.getAsJsonArray()));
        } else {
            b.targetRegex(t.getAsString());
        }
        if (has(j, "exclude_modules")) {
            JsonElement e = j.get("exclude_modules");
            if (e.isJsonArray()) {
                b.exclude(strings(e.getAsJsonArray()));
            } else {
                b.excludeRegex(e.getAsString());
            }
        }
        if (has(j, "layers_to_transform")) {
            JsonElement l = j.get("layers_to_transform");
            List<Integer> layers = new ArrayList<>();
            if (l.isJsonArray()) {
                l.getAsJsonArray().forEach(x -> layers.add(intValue(x, "layers_to_transform")));
            } else {
                layers.add(intValue(l, "layers_to_transform"));
            }
            b.layersToTransform(layers);
        }
        if (has(j, "layers_pattern")) {
            JsonElement p = j.get("layers_pattern");
            b.layersPattern(p.isJsonArray() ? strings(p.getAsJsonArray()) : List.of(p.getAsString()));
        }
        if (has(j, "rank_pattern")) {
            j.getAsJsonObject("rank_pattern").entrySet()
                    .forEach(e -> b.rankPattern.put(e.getKey(), intValue(e.getValue(), "rank_pattern." + e.getKey())));
        }
        if (has(j, "alpha_pattern")) {
            j.getAsJsonObject("alpha_pattern").entrySet()
                    .forEach(e -> b.alphaPattern.put(e.getKey(), e.getValue().getAsFloat()));
        }
        if (has(j, "use_rslora")) {
            b.useRslora(j.get("use_rslora").getAsBoolean());
        }
        if (has(j, "use_dora")) {
            b.useDora(j.get("use_dora").getAsBoolean());
        }
        if (has(j, "init_lora_weights")) {
            parseInit(j.get("init_lora_weights"), b);
        }
        if (has(j, "bias") && !"none".equals(j.get("bias").getAsString())) {
            throw new IllegalArgumentException(
                    "bias=\"" + j.get("bias").getAsString() + "\" is not supported; only \"none\"");
        }
        if (has(j, "fan_in_fan_out") && j.get("fan_in_fan_out").getAsBoolean()) {
            throw new IllegalArgumentException(
                    "fan_in_fan_out=true (GPT-2 Conv1D weights) is not supported");
        }
        if (has(j, "modules_to_save")) {
            b.modulesToSave(strings(j.getAsJsonArray("modules_to_save")));
        }
        if (has(j, "task_type")) {
            b.taskType(j.get("task_type").getAsString());
        }
        if (has(j, "base_model_name_or_path")) {
            b.baseModelNameOrPath(j.get("base_model_name_or_path").getAsString());
        }
        for (Map.Entry<String, JsonElement> e : j.entrySet()) {
            String key = e.getKey();
            if (KNOWN.contains(key)) {
                continue;
            }
            if (HARMLESS_AT_DEFAULT.containsKey(key)) {
                JsonElement v = e.getValue();
                if (!v.isJsonNull() && !v.equals(HARMLESS_AT_DEFAULT.get(key))) {
                    throw new IllegalArgumentException(
                            "\"" + key + "\": " + v + " is not supported by peft4j's LoRA (only "
                                    + HARMLESS_AT_DEFAULT.get(key) + " or null)");
                }
                continue;
            }
            warnings.accept("unknown LoRA config key \"" + key + "\" ignored");
        }
        return b.build();
    }

    private static void parseInit(JsonElement v, Builder b) {
        if (v.isJsonPrimitive() && v.getAsJsonPrimitive().isBoolean()) {
            b.init(v.getAsBoolean() ? LoraInit.DEFAULT : LoraInit.RANDOM);
            return;
        }
        String s = v.getAsString();
        if (s.equals("gaussian")) {
            b.init(LoraInit.GAUSSIAN);
        } else if (s.equals("pissa")) {
            b.init(LoraInit.PISSA).pissaIterations(0);
        } else if (s.startsWith("pissa_niter_")) {
            b.init(LoraInit.PISSA).pissaIterations(Integer.parseInt(s.substring("pissa_niter_".length())));
        } else {
            throw new IllegalArgumentException(
                    "init_lora_weights=\"" + s + "\" is not supported; expected true, false,"
                            + " \"gaussian\", \"pissa\" or \"pissa_niter_N\"");
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

    /** An exact int: Gson's getAsInt would silently truncate 99999999999. */
    private static int intValue(JsonElement e, String key) {
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new IllegalArgumentException("\"" + key + "\" must be an integer, found " + e);
        }
        java.math.BigDecimal d = e.getAsBigDecimal();
        try {
            return d.intValueExact();
        } catch (ArithmeticException ex) {
            throw new IllegalArgumentException("\"" + key + "\" must be an integer in int range, found " + e);
        }
    }

    private static void require(JsonObject j, String key) {
        if (!has(j, key)) {
            throw new IllegalArgumentException("LoRA config is missing \"" + key + "\"");
        }
    }

    private static boolean has(JsonObject j, String key) {
        return j.has(key) && !j.get(key).isJsonNull();
    }

    private static List<String> strings(JsonArray a) {
        List<String> out = new ArrayList<>();
        a.forEach(e -> out.add(e.getAsString()));
        return out;
    }

    private static JsonArray list(List<String> values) {
        JsonArray a = new JsonArray();
        values.forEach(a::add);
        return a;
    }

    private static JsonElement str(String s) {
        return s == null ? JsonNull.INSTANCE : new JsonPrimitive(s);
    }

    private static <T extends Number> JsonObject mapJson(Map<String, T> m) {
        JsonObject o = new JsonObject();
        m.forEach((k, v) -> o.addProperty(k, v));
        return o;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof LoraConfig)) {
            return false;
        }
        LoraConfig c = (LoraConfig) o;
        return rank == c.rank && alpha == c.alpha && dropout == c.dropout
                && targets.equals(c.targets) && useRslora == c.useRslora && useDora == c.useDora
                && init == c.init && pissaIterations == c.pissaIterations
                && rankPattern.equals(c.rankPattern) && alphaPattern.equals(c.alphaPattern)
                && modulesToSave.equals(c.modulesToSave) && Objects.equals(taskType, c.taskType);
    }

    @Override
    public int hashCode() {
        return Objects.hash(rank, alpha, dropout, targets, useRslora, useDora, init);
    }

    @Override
    public String toString() {
        return "LoraConfig" + toJson();
    }

    /** Builder of {@link LoraConfig}. */
    public static final class Builder {
        private int rank = 8;
        private float alpha = 8;
        private float dropout = 0;
        private TargetSpec.Builder targets = TargetSpec.builder();
        private boolean useRslora;
        private boolean useDora;
        private LoraInit init = LoraInit.DEFAULT;
        private int pissaIterations;
        private Map<String, Integer> rankPattern = new LinkedHashMap<>();
        private Map<String, Float> alphaPattern = new LinkedHashMap<>();
        private List<String> modulesToSave = new ArrayList<>();
        private String taskType;
        private String baseModelNameOrPath;
        private long seed = 0;

        private Builder() {}

        /** Rank {@code r} (> 0). */
        public Builder rank(int rank) {
            Preconditions.checkArgument(rank > 0, "LoRA rank r must be > 0, got %s", rank);
            this.rank = rank;
            return this;
        }

        /** {@code lora_alpha}. */
        public Builder alpha(float alpha) {
            Preconditions.checkArgument(Float.isFinite(alpha), "lora_alpha must be finite, got %s", alpha);
            this.alpha = alpha;
            return this;
        }

        /** {@code lora_dropout} in [0, 1). */
        public Builder dropout(float dropout) {
            Preconditions.checkArgument(
                    dropout >= 0 && dropout < 1, "lora_dropout must be in [0, 1), got %s", dropout);
            this.dropout = dropout;
            return this;
        }

        /** Target names (exact path or {@code .name} suffix). */
        public Builder targets(String... names) {
            targets.targets(names);
            return this;
        }

        /** Target names (exact path or {@code .name} suffix). */
        public Builder targets(List<String> names) {
            targets.targets(names);
            return this;
        }

        /** A regex every target path fully matches, or {@code all-linear}. */
        public Builder targetRegex(String regex) {
            targets.targetRegex(regex);
            return this;
        }

        /** Every linear layer but the output head. */
        public Builder allLinear() {
            targets.allLinear();
            return this;
        }

        /** Excluded names. */
        public Builder exclude(List<String> names) {
            targets.exclude(names);
            return this;
        }

        /** Excluded paths by regex. */
        public Builder excludeRegex(String regex) {
            targets.excludeRegex(regex);
            return this;
        }

        /** Only these layer indices. */
        public Builder layersToTransform(List<Integer> layers) {
            targets.layersToTransform(layers);
            return this;
        }

        /** The layer list's module name(s), e.g. {@code layers}. */
        public Builder layersPattern(List<String> names) {
            targets.layersPattern(names);
            return this;
        }

        /** rsLoRA scaling {@code alpha / sqrt(r)}. */
        public Builder useRslora(boolean on) {
            this.useRslora = on;
            return this;
        }

        /** DoRA on linear layers. */
        public Builder useDora(boolean on) {
            this.useDora = on;
            return this;
        }

        /** Initialization. */
        public Builder init(LoraInit init) {
            this.init = Preconditions.checkNotNull(init);
            return this;
        }

        /** Power iterations of PiSSA's randomized SVD (0: exact-ish default of 4 passes). */
        public Builder pissaIterations(int n) {
            Preconditions.checkArgument(n >= 0, "pissa iterations must be >= 0, got %s", n);
            this.pissaIterations = n;
            return this;
        }

        /** Rank of modules whose path matches a pattern. */
        public Builder rankPattern(String pattern, int rank) {
            Preconditions.checkArgument(rank > 0, "rank_pattern '%s' rank must be > 0, got %s", pattern, rank);
            rankPattern.put(pattern, rank);
            return this;
        }

        /** Alpha of modules whose path matches a pattern. */
        public Builder alphaPattern(String pattern, float alpha) {
            alphaPattern.put(pattern, alpha);
            return this;
        }

        /** Modules trained in full and saved with the adapter. */
        public Builder modulesToSave(List<String> names) {
            this.modulesToSave = new ArrayList<>(names);
            return this;
        }

        /** peft's {@code task_type} (e.g. {@code CAUSAL_LM}, {@code SEQ_CLS}). */
        public Builder taskType(String taskType) {
            this.taskType = taskType;
            return this;
        }

        /** {@code base_model_name_or_path}. */
        public Builder baseModelNameOrPath(String name) {
            this.baseModelNameOrPath = name;
            return this;
        }

        /** Seed of the random initialization. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Builds the config. */
        public LoraConfig build() {
            return new LoraConfig(this);
        }
    }
}
