package io.peft4j.shadow;

import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import io.peft4j.core.config.ConfigKey;
import io.peft4j.core.config.ConfigValues;
import io.peft4j.core.spi.ConfigJson;
import io.peft4j.core.spi.JsonValueConfig;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;

/**
 * ShadowPEFT's configuration ({@code peft_type} {@value #PEFT_TYPE}): a small shadow network of the
 * base's family reads the frozen input embeddings once per forward; before each base layer {@code i
 * >= 1} an injection {@code h += alpha * dropout((h - s) D_k) U_k} and after it an update {@code s
 * += sigmoid(G2 silu(G1 u)) * (T2 dropout(silu(T1 u)) - s)}, {@code u = LayerNorm(h)}.
 *
 * <p>Size fields left at 0 are resolved against the base model when the adapter is attached (shadow
 * hidden = the base's, heads = the base's head width, intermediate = half the base's); the attached
 * adapter's {@link io.peft4j.core.spi.Adapter#config()} holds the resolved values, which is what
 * {@code adapter_config.json} records.
 */
public final class ShadowConfig extends JsonValueConfig {

    /** The {@code peft_type} of ShadowPEFT. */
    public static final String PEFT_TYPE = "SHADOW";

    // The method's own settings, each declared once (JSON key, default, check), in file order.
    private static final ConfigKey<Integer> NUM_SHADOW_LAYERS =
            ConfigKey.ofInt("num_shadow_layers", 1)
                    .check(v -> v >= 1, "num_shadow_layers must be >= 1, got %s");
    private static final ConfigKey<Integer> SHADOW_HIDDEN_SIZE =
            ConfigKey.ofInt("shadow_hidden_size", 0)
                    .check(
                            v -> v >= 0,
                            "shadow_hidden_size must be > 0 (or 0 for the base's), got %s");
    private static final ConfigKey<Integer> SHADOW_INTERMEDIATE_SIZE =
            autoSize("shadow_intermediate_size");
    private static final ConfigKey<Integer> SHADOW_HEADS = autoSize("shadow_num_attention_heads");
    private static final ConfigKey<Integer> SHADOW_KV_HEADS =
            autoSize("shadow_num_key_value_heads");
    private static final ConfigKey<Integer> INJECTION_SIZE =
            ConfigKey.ofInt("injection_hidden_size", 16)
                    .check(v -> v >= 1, "injection_hidden_size must be >= 1, got %s");
    private static final ConfigKey<Integer> GATE_SIZE =
            ConfigKey.ofInt("gate_hidden_size", 10)
                    .check(v -> v >= 2, "gate_hidden_size must be >= 2, got %s");
    private static final ConfigKey<Float> ALPHA =
            ConfigKey.ofFloat("alpha", 0.1f).check(Float::isFinite, "alpha must be finite, got %s");
    private static final ConfigKey<Float> DROPOUT =
            ConfigKey.ofFloat("dropout", 0.2f)
                    .check(v -> v >= 0 && v < 1, "dropout must be in [0, 1), got %s");
    private static final ConfigKey<Float> SHADOW_LOSS_WEIGHT =
            ConfigKey.ofFloat("shadow_loss_weight", 0.05f)
                    .check(
                            v -> v >= 0 && Float.isFinite(v),
                            "shadow_loss_weight must be a finite value >= 0, got %s");
    private static final ConfigKey<ShadowFamily> FAMILY =
            ConfigKey.ofText(
                    "shadow_family", ShadowFamily.AUTO, ShadowFamily::parse, ConfigJson::jsonName);
    private static final ConfigKey<Double> NORM_EPS =
            ConfigKey.ofDouble("shadow_norm_eps", 0)
                    .check(
                            v -> v >= 0 && Double.isFinite(v),
                            "shadow_norm_eps must be > 0 (or 0 for auto), got %s");
    // Written (null when unset) but not read back: a saved adapter already holds the trained
    // shadow, so fromJson keeps the path as provenance only (pretrained_shadow_source).
    private static final ConfigKey<String> PRETRAINED_SHADOW =
            ConfigKey.of("pretrained_shadow_path", null, null, ConfigJson::stringOrNull);
    private static final ConfigKey<String> PRETRAINED_SOURCE =
            ConfigKey.of(
                    "pretrained_shadow_source",
                    null,
                    ConfigJson::textValue,
                    v -> v == null ? null : new JsonPrimitive(v));
    private static final ConfigKey<Long> SEED = ConfigKey.ofLong("seed", 42);
    private static final ConfigKey<ShadowHead> SHADOW_HEAD =
            ConfigKey.ofText("shadow_head", ShadowHead.OWN, ShadowHead::parse, ShadowHead::jsonName)
                    .nonNull("SHADOW shadow_head must be own or shared, got null");

    private static final ConfigValues DEFAULTS =
            ConfigValues.defaults(
                    NUM_SHADOW_LAYERS,
                    SHADOW_HIDDEN_SIZE,
                    SHADOW_INTERMEDIATE_SIZE,
                    SHADOW_HEADS,
                    SHADOW_KV_HEADS,
                    INJECTION_SIZE,
                    GATE_SIZE,
                    ALPHA,
                    DROPOUT,
                    SHADOW_LOSS_WEIGHT,
                    FAMILY,
                    NORM_EPS,
                    PRETRAINED_SHADOW,
                    PRETRAINED_SOURCE,
                    SEED,
                    SHADOW_HEAD);

    /** No target keys: the shadow network goes next to the whole base, not into chosen modules. */
    // package-private: the method entry offers these keys to tools (--set)
    static final Set<String> KNOWN = ConfigJson.commonKeys(DEFAULTS.jsonKeys(), "revision");

    private final ConfigValues own;
    private final List<String> modulesToSave;

    private ShadowConfig(Builder b) {
        this.modulesToSave = List.copyOf(b.modulesToSave);
        this.own = b.own.build();
    }

    /** A size whose 0 means "resolved against the base when attached". */
    private static ConfigKey<Integer> autoSize(String name) {
        return ConfigKey.ofInt(name, 0)
                .check(v -> v >= 0, name + " must be > 0 (or 0 for auto), got %s");
    }

    /**
     * A builder with the paper's defaults: 1 shadow layer, b = 16, g = 10, alpha 0.1, dropout 0.2,
     * weight 0.05.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder(DEFAULTS.toBuilder());
    }

    /** {@return a builder holding this config's values} */
    public Builder toBuilder() {
        return new Builder(own.toBuilder()).modulesToSave(modulesToSave);
    }

    @Override
    public String peftType() {
        return PEFT_TYPE;
    }

    /**
     * Which head scores the shadow state of a classification model: its own trainable copy of the
     * base head (default, as the reference) or the base head itself.
     *
     * @return own or shared
     */
    public ShadowHead shadowHead() {
        return own.get(SHADOW_HEAD);
    }

    /** {@return number of shadow layers (default 1)} */
    public int numShadowLayers() {
        return own.get(NUM_SHADOW_LAYERS);
    }

    /** {@return shadow hidden width; 0 = the base's} */
    public int shadowHiddenSize() {
        return own.get(SHADOW_HIDDEN_SIZE);
    }

    /**
     * {@return shadow MLP width; 0 = half the base's (or twice the shadow hidden size if unknown)}
     */
    public int shadowIntermediateSize() {
        return own.get(SHADOW_INTERMEDIATE_SIZE);
    }

    /** {@return shadow attention heads; 0 = shadow hidden / the base's head width} */
    public int shadowNumAttentionHeads() {
        return own.get(SHADOW_HEADS);
    }

    /**
     * {@return shadow key/value heads (grouped-query attention); 0 = as many as the attention
     * heads}
     */
    public int shadowNumKeyValueHeads() {
        return own.get(SHADOW_KV_HEADS);
    }

    /** {@return injection bottleneck b (default 16)} */
    public int injectionSize() {
        return own.get(INJECTION_SIZE);
    }

    /** {@return update gate/transform bottleneck g (default 10)} */
    public int gateSize() {
        return own.get(GATE_SIZE);
    }

    /** {@return injection scale alpha (default 0.1)} */
    public float alpha() {
        return own.get(ALPHA);
    }

    /** {@return dropout in injection and update transform (default 0.2; training passes only)} */
    public float dropout() {
        return own.get(DROPOUT);
    }

    /** {@return weight of the shadow's next-token loss in the causal-LM loss (default 0.05)} */
    public float shadowLossWeight() {
        return own.get(SHADOW_LOSS_WEIGHT);
    }

    /**
     * {@return architecture family of the shadow network; AUTO = detect from the base's module
     * names}
     */
    public ShadowFamily family() {
        return own.get(FAMILY);
    }

    /** {@return epsilon of the shadow network's norms; 0 = the base's (or 1e-5 / 1e-12)} */
    public double normEps() {
        return own.get(NORM_EPS);
    }

    /**
     * A folder written by {@link DetachedShadow#save} whose shadow network (and projection) this
     * adapter starts from, or {@code null} for a fresh shadow.
     *
     * @return the folder, or null
     */
    public String pretrainedShadow() {
        return own.get(PRETRAINED_SHADOW);
    }

    /** {@return where the pretrained shadow came from (informational, kept in saved configs)} */
    public String pretrainedSource() {
        return own.get(PRETRAINED_SOURCE);
    }

    /** {@return seed of the initial values} */
    public long seed() {
        return own.get(SEED);
    }

    /** Whether every size is resolved (no 0 = auto left, family known). */
    boolean isResolved() {
        return shadowHiddenSize() > 0
                && shadowIntermediateSize() > 0
                && shadowNumAttentionHeads() > 0
                && shadowNumKeyValueHeads() > 0
                && family() != ShadowFamily.AUTO
                && normEps() > 0;
    }

    /**
     * Modules trained in full next to the adapter (peft's {@code modules_to_save}), e.g. a
     * classifier.
     */
    @Override
    public List<String> modulesToSave() {
        return modulesToSave;
    }

    @Override
    public JsonObject toJson() {
        JsonObject j = new JsonObject();
        j.addProperty("peft_type", PEFT_TYPE);
        own.writeTo(j);
        j.addProperty("task_type", "CAUSAL_LM");
        ConfigJson.writeModulesToSave(j, modulesToSave);
        return j;
    }

    /**
     * Reads a config from {@code adapter_config.json}. Unknown keys are reported through {@code
     * warnings} and ignored; a bad value is an {@link IllegalArgumentException} naming it.
     *
     * @param j the parsed {@code adapter_config.json}
     * @param warnings receives one message per ignored key
     * @return the config
     */
    public static ShadowConfig fromJson(JsonObject j, Consumer<String> warnings) {
        Builder b = builder();
        ConfigJson.warnUnknown(j, KNOWN, "SHADOW", warnings);
        // A saved adapter already holds the trained shadow: keep the path as provenance only
        // (a pretrained_shadow_source in the file, read next, wins).
        ConfigJson.readString(j, "pretrained_shadow_path", b::pretrainedSource);
        b.own.read(j);
        b.modulesToSave(ConfigJson.modulesToSave(j));
        return b.build();
    }

    /** Builder; {@link #build()} validates. */
    public static final class Builder {
        private final ConfigValues.Builder own;
        private List<String> modulesToSave = List.of();

        private Builder(ConfigValues.Builder own) {
            this.own = own;
        }

        /**
         * Modules trained in full next to the adapter and saved with it (e.g. {@code classifier}).
         *
         * @param names modules trained in full next to the adapter and saved with it (e.g
         * @return this builder
         */
        public Builder modulesToSave(Collection<String> names) {
            this.modulesToSave = List.copyOf(names);
            return this;
        }

        /**
         * Shadow layers (at least 1).
         *
         * @param v shadow layers (at least 1)
         * @return this builder
         */
        public Builder numShadowLayers(int v) {
            own.set(NUM_SHADOW_LAYERS, v);
            return this;
        }

        /**
         * Shadow hidden width (0 = the base's; otherwise bias-free projections in and out).
         *
         * @param v shadow hidden width (0 = the base's; otherwise bias-free projections in and out)
         * @return this builder
         */
        public Builder shadowHiddenSize(int v) {
            own.set(SHADOW_HIDDEN_SIZE, v);
            return this;
        }

        /**
         * Shadow MLP width (0 = auto).
         *
         * @param v shadow MLP width (0 = auto)
         * @return this builder
         */
        public Builder shadowIntermediateSize(int v) {
            own.set(SHADOW_INTERMEDIATE_SIZE, v);
            return this;
        }

        /**
         * Shadow attention heads (0 = auto).
         *
         * @param v shadow attention heads (0 = auto)
         * @return this builder
         */
        public Builder shadowNumAttentionHeads(int v) {
            own.set(SHADOW_HEADS, v);
            return this;
        }

        /**
         * Shadow key/value heads (0 = as many as attention heads).
         *
         * @param v shadow key/value heads (0 = as many as attention heads)
         * @return this builder
         */
        public Builder shadowNumKeyValueHeads(int v) {
            own.set(SHADOW_KV_HEADS, v);
            return this;
        }

        /**
         * Injection bottleneck b.
         *
         * @param v injection bottleneck b
         * @return this builder
         */
        public Builder injectionSize(int v) {
            own.set(INJECTION_SIZE, v);
            return this;
        }

        /**
         * Update bottleneck g (at least 2, as the reference).
         *
         * @param v update bottleneck g (at least 2, as the reference)
         * @return this builder
         */
        public Builder gateSize(int v) {
            own.set(GATE_SIZE, v);
            return this;
        }

        /**
         * Injection scale.
         *
         * @param v injection scale
         * @return this builder
         */
        public Builder alpha(float v) {
            own.set(ALPHA, v);
            return this;
        }

        /**
         * Dropout probability in [0, 1).
         *
         * @param v dropout probability in [0, 1)
         * @return this builder
         */
        public Builder dropout(float v) {
            own.set(DROPOUT, v);
            return this;
        }

        /**
         * Weight of the shadow loss in the causal-LM loss (>= 0).
         *
         * @param v weight of the shadow loss in the causal-LM loss (>= 0)
         * @return this builder
         */
        public Builder shadowLossWeight(float v) {
            own.set(SHADOW_LOSS_WEIGHT, v);
            return this;
        }

        /**
         * Shadow family (AUTO detects it from the base's module names).
         *
         * @param v shadow family (AUTO detects it from the base's module names)
         * @return this builder
         */
        public Builder family(ShadowFamily v) {
            own.set(FAMILY, Objects.requireNonNull(v, "family"));
            return this;
        }

        /**
         * Epsilon of the shadow's norms (0 = auto).
         *
         * @param v epsilon of the shadow's norms (0 = auto)
         * @return this builder
         */
        public Builder normEps(double v) {
            own.set(NORM_EPS, v);
            return this;
        }

        /**
         * Start from a shadow saved by {@link DetachedShadow#save} in {@code dir} (its sizes win).
         *
         * @param dir start from a shadow saved by {@link DetachedShadow#save} in {@code dir} (its
         *     sizes win)
         * @return this builder
         */
        public Builder pretrainedShadow(String dir) {
            own.set(PRETRAINED_SHADOW, dir);
            return this;
        }

        Builder pretrainedSource(String v) {
            own.set(PRETRAINED_SOURCE, v);
            return this;
        }

        /**
         * Seed of the initial values.
         *
         * @param v seed of the initial values
         * @return this builder
         */
        public Builder seed(long v) {
            own.set(SEED, v);
            return this;
        }

        /**
         * The head that scores the shadow state of a classification model (default {@code OWN}).
         *
         * @param v own or shared
         * @return this builder
         */
        public Builder shadowHead(ShadowHead v) {
            own.set(SHADOW_HEAD, v);
            return this;
        }

        /**
         * Validates and builds.
         *
         * @return the config
         */
        public ShadowConfig build() {
            ShadowConfig c = new ShadowConfig(this);
            // each value was checked when set; here the ones that depend on each other
            int heads = c.shadowNumAttentionHeads();
            int kvHeads = c.shadowNumKeyValueHeads();
            int hidden = c.shadowHiddenSize();
            check(
                    heads == 0 || kvHeads == 0 || heads % kvHeads == 0,
                    "shadow_num_attention_heads ("
                            + heads
                            + ") must be a multiple of shadow_num_key_value_heads ("
                            + kvHeads
                            + ")");
            check(
                    heads == 0 || hidden == 0 || hidden % heads == 0,
                    "shadow_hidden_size ("
                            + hidden
                            + ") must be divisible by shadow_num_attention_heads ("
                            + heads
                            + ")");
            return c;
        }

        private static void check(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException(message);
            }
        }
    }
}
