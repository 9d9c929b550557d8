package io.peft4j.shadow;

import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
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

    /** No target keys: the shadow network goes next to the whole base, not into chosen modules. */
    // package-private: the method entry offers these keys to tools (--set)
    static final Set<String> KNOWN =
            ConfigJson.commonKeys(
                    "num_shadow_layers",
                    "shadow_hidden_size",
                    "shadow_intermediate_size",
                    "shadow_num_attention_heads",
                    "shadow_num_key_value_heads",
                    "injection_hidden_size",
                    "gate_hidden_size",
                    "alpha",
                    "dropout",
                    "shadow_loss_weight",
                    "shadow_family",
                    "shadow_norm_eps",
                    "pretrained_shadow_path",
                    "pretrained_shadow_source",
                    "seed",
                    "revision",
                    "shadow_head");

    private final int numShadowLayers;
    private final int shadowHiddenSize;
    private final int shadowIntermediateSize;
    private final int shadowHeads;
    private final int shadowKvHeads;
    private final int injectionSize;
    private final int gateSize;
    private final float alpha;
    private final float dropout;
    private final float shadowLossWeight;
    private final ShadowFamily family;
    private final double normEps;
    private final String pretrainedShadow;
    private final String pretrainedSource;
    private final long seed;
    private final ShadowHead shadowHead;

    private final List<String> modulesToSave;

    private ShadowConfig(Builder b) {
        this.modulesToSave = List.copyOf(b.modulesToSave);
        this.numShadowLayers = b.numShadowLayers;
        this.shadowHiddenSize = b.shadowHiddenSize;
        this.shadowIntermediateSize = b.shadowIntermediateSize;
        this.shadowHeads = b.shadowHeads;
        this.shadowKvHeads = b.shadowKvHeads;
        this.injectionSize = b.injectionSize;
        this.gateSize = b.gateSize;
        this.alpha = b.alpha;
        this.dropout = b.dropout;
        this.shadowLossWeight = b.shadowLossWeight;
        this.family = b.family;
        this.normEps = b.normEps;
        this.pretrainedShadow = b.pretrainedShadow;
        this.pretrainedSource = b.pretrainedSource;
        this.seed = b.seed;
        this.shadowHead = b.shadowHead;
    }

    /**
     * A builder with the paper's defaults: 1 shadow layer, b = 16, g = 10, alpha 0.1, dropout 0.2,
     * weight 0.05.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** {@return a builder holding this config's values} */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.modulesToSave = modulesToSave;
        b.numShadowLayers = numShadowLayers;
        b.shadowHiddenSize = shadowHiddenSize;
        b.shadowIntermediateSize = shadowIntermediateSize;
        b.shadowHeads = shadowHeads;
        b.shadowKvHeads = shadowKvHeads;
        b.injectionSize = injectionSize;
        b.gateSize = gateSize;
        b.alpha = alpha;
        b.dropout = dropout;
        b.shadowLossWeight = shadowLossWeight;
        b.family = family;
        b.normEps = normEps;
        b.pretrainedShadow = pretrainedShadow;
        b.pretrainedSource = pretrainedSource;
        b.seed = seed;
        b.shadowHead = shadowHead;
        return b;
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
        return shadowHead;
    }

    /** {@return number of shadow layers (default 1)} */
    public int numShadowLayers() {
        return numShadowLayers;
    }

    /** {@return shadow hidden width; 0 = the base's} */
    public int shadowHiddenSize() {
        return shadowHiddenSize;
    }

    /**
     * {@return shadow MLP width; 0 = half the base's (or twice the shadow hidden size if unknown)}
     */
    public int shadowIntermediateSize() {
        return shadowIntermediateSize;
    }

    /** {@return shadow attention heads; 0 = shadow hidden / the base's head width} */
    public int shadowNumAttentionHeads() {
        return shadowHeads;
    }

    /**
     * {@return shadow key/value heads (grouped-query attention); 0 = as many as the attention
     * heads}
     */
    public int shadowNumKeyValueHeads() {
        return shadowKvHeads;
    }

    /** {@return injection bottleneck b (default 16)} */
    public int injectionSize() {
        return injectionSize;
    }

    /** {@return update gate/transform bottleneck g (default 10)} */
    public int gateSize() {
        return gateSize;
    }

    /** {@return injection scale alpha (default 0.1)} */
    public float alpha() {
        return alpha;
    }

    /** {@return dropout in injection and update transform (default 0.2; training passes only)} */
    public float dropout() {
        return dropout;
    }

    /** {@return weight of the shadow's next-token loss in the causal-LM loss (default 0.05)} */
    public float shadowLossWeight() {
        return shadowLossWeight;
    }

    /**
     * {@return architecture family of the shadow network; AUTO = detect from the base's module
     * names}
     */
    public ShadowFamily family() {
        return family;
    }

    /** {@return epsilon of the shadow network's norms; 0 = the base's (or 1e-5 / 1e-12)} */
    public double normEps() {
        return normEps;
    }

    /**
     * A folder written by {@link DetachedShadow#save} whose shadow network (and projection) this
     * adapter starts from, or {@code null} for a fresh shadow.
     *
     * @return the folder, or null
     */
    public String pretrainedShadow() {
        return pretrainedShadow;
    }

    /** {@return where the pretrained shadow came from (informational, kept in saved configs)} */
    public String pretrainedSource() {
        return pretrainedSource;
    }

    /** {@return seed of the initial values} */
    public long seed() {
        return seed;
    }

    /** Whether every size is resolved (no 0 = auto left, family known). */
    boolean isResolved() {
        return shadowHiddenSize > 0
                && shadowIntermediateSize > 0
                && shadowHeads > 0
                && shadowKvHeads > 0
                && family != ShadowFamily.AUTO
                && normEps > 0;
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
        j.addProperty("num_shadow_layers", numShadowLayers);
        j.addProperty("shadow_hidden_size", shadowHiddenSize);
        j.addProperty("shadow_intermediate_size", shadowIntermediateSize);
        j.addProperty("shadow_num_attention_heads", shadowHeads);
        j.addProperty("shadow_num_key_value_heads", shadowKvHeads);
        j.addProperty("injection_hidden_size", injectionSize);
        j.addProperty("gate_hidden_size", gateSize);
        j.addProperty("alpha", alpha);
        j.addProperty("dropout", dropout);
        j.addProperty("shadow_loss_weight", shadowLossWeight);
        j.addProperty("shadow_family", ConfigJson.jsonName(family));
        j.addProperty("shadow_norm_eps", normEps);
        if (pretrainedShadow != null) {
            j.addProperty("pretrained_shadow_path", pretrainedShadow);
        } else {
            j.add("pretrained_shadow_path", JsonNull.INSTANCE);
        }
        if (pretrainedSource != null) {
            j.addProperty("pretrained_shadow_source", pretrainedSource);
        }
        j.addProperty("seed", seed);
        j.addProperty("shadow_head", shadowHead.jsonName());
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
        ConfigJson.readInt(j, "num_shadow_layers", b::numShadowLayers);
        ConfigJson.readInt(j, "shadow_hidden_size", b::shadowHiddenSize);
        ConfigJson.readInt(j, "shadow_intermediate_size", b::shadowIntermediateSize);
        ConfigJson.readInt(j, "shadow_num_attention_heads", b::shadowNumAttentionHeads);
        ConfigJson.readInt(j, "shadow_num_key_value_heads", b::shadowNumKeyValueHeads);
        ConfigJson.readInt(j, "injection_hidden_size", b::injectionSize);
        ConfigJson.readInt(j, "gate_hidden_size", b::gateSize);
        ConfigJson.readFloat(j, "alpha", b::alpha);
        ConfigJson.readFloat(j, "dropout", b::dropout);
        ConfigJson.readFloat(j, "shadow_loss_weight", b::shadowLossWeight);
        ConfigJson.readString(j, "shadow_family", v -> b.family(ShadowFamily.parse(v)));
        ConfigJson.readDouble(j, "shadow_norm_eps", b::normEps);
        // A saved adapter already holds the trained shadow: keep the path as provenance only.
        ConfigJson.readString(j, "pretrained_shadow_path", b::pretrainedSource);
        ConfigJson.readString(j, "pretrained_shadow_source", b::pretrainedSource);
        ConfigJson.readLong(j, "seed", b::seed);
        ConfigJson.readString(j, "shadow_head", v -> b.shadowHead(ShadowHead.parse(v)));
        b.modulesToSave(ConfigJson.modulesToSave(j));
        return b.build();
    }

    /** Builder; {@link #build()} validates. */
    public static final class Builder {
        private int numShadowLayers = 1;
        private int shadowHiddenSize;
        private int shadowIntermediateSize;
        private int shadowHeads;
        private int shadowKvHeads;
        private int injectionSize = 16;
        private int gateSize = 10;
        private float alpha = 0.1f;
        private float dropout = 0.2f;
        private float shadowLossWeight = 0.05f;
        private ShadowFamily family = ShadowFamily.AUTO;
        private double normEps;
        private String pretrainedShadow;
        private String pretrainedSource;
        private long seed = 42;
        private ShadowHead shadowHead = ShadowHead.OWN;

        private List<String> modulesToSave = List.of();

        private Builder() {}

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
            numShadowLayers = v;
            return this;
        }

        /**
         * Shadow hidden width (0 = the base's; otherwise bias-free projections in and out).
         *
         * @param v shadow hidden width (0 = the base's; otherwise bias-free projections in and out)
         * @return this builder
         */
        public Builder shadowHiddenSize(int v) {
            shadowHiddenSize = v;
            return this;
        }

        /**
         * Shadow MLP width (0 = auto).
         *
         * @param v shadow MLP width (0 = auto)
         * @return this builder
         */
        public Builder shadowIntermediateSize(int v) {
            shadowIntermediateSize = v;
            return this;
        }

        /**
         * Shadow attention heads (0 = auto).
         *
         * @param v shadow attention heads (0 = auto)
         * @return this builder
         */
        public Builder shadowNumAttentionHeads(int v) {
            shadowHeads = v;
            return this;
        }

        /**
         * Shadow key/value heads (0 = as many as attention heads).
         *
         * @param v shadow key/value heads (0 = as many as attention heads)
         * @return this builder
         */
        public Builder shadowNumKeyValueHeads(int v) {
            shadowKvHeads = v;
            return this;
        }

        /**
         * Injection bottleneck b.
         *
         * @param v injection bottleneck b
         * @return this builder
         */
        public Builder injectionSize(int v) {
            injectionSize = v;
            return this;
        }

        /**
         * Update bottleneck g (at least 2, as the reference).
         *
         * @param v update bottleneck g (at least 2, as the reference)
         * @return this builder
         */
        public Builder gateSize(int v) {
            gateSize = v;
            return this;
        }

        /**
         * Injection scale.
         *
         * @param v injection scale
         * @return this builder
         */
        public Builder alpha(float v) {
            alpha = v;
            return this;
        }

        /**
         * Dropout probability in [0, 1).
         *
         * @param v dropout probability in [0, 1)
         * @return this builder
         */
        public Builder dropout(float v) {
            dropout = v;
            return this;
        }

        /**
         * Weight of the shadow loss in the causal-LM loss (>= 0).
         *
         * @param v weight of the shadow loss in the causal-LM loss (>= 0)
         * @return this builder
         */
        public Builder shadowLossWeight(float v) {
            shadowLossWeight = v;
            return this;
        }

        /**
         * Shadow family (AUTO detects it from the base's module names).
         *
         * @param v shadow family (AUTO detects it from the base's module names)
         * @return this builder
         */
        public Builder family(ShadowFamily v) {
            family = Objects.requireNonNull(v, "family");
            return this;
        }

        /**
         * Epsilon of the shadow's norms (0 = auto).
         *
         * @param v epsilon of the shadow's norms (0 = auto)
         * @return this builder
         */
        public Builder normEps(double v) {
            normEps = v;
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
            pretrainedShadow = dir;
            return this;
        }

        Builder pretrainedSource(String v) {
            pretrainedSource = v;
            return this;
        }

        /**
         * Seed of the initial values.
         *
         * @param v seed of the initial values
         * @return this builder
         */
        public Builder seed(long v) {
            seed = v;
            return this;
        }

        /**
         * The head that scores the shadow state of a classification model (default {@code OWN}).
         *
         * @param v own or shared
         * @return this builder
         */
        public Builder shadowHead(ShadowHead v) {
            if (v == null) {
                throw new IllegalArgumentException(
                        "SHADOW shadow_head must be own or shared, got null");
            }
            shadowHead = v;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @return the config
         */
        public ShadowConfig build() {
            check(numShadowLayers >= 1, "num_shadow_layers must be >= 1, got " + numShadowLayers);
            check(
                    shadowHiddenSize >= 0,
                    "shadow_hidden_size must be > 0 (or 0 for the base's), got "
                            + shadowHiddenSize);
            check(
                    shadowIntermediateSize >= 0,
                    "shadow_intermediate_size must be > 0 (or 0 for auto), got "
                            + shadowIntermediateSize);
            check(
                    shadowHeads >= 0,
                    "shadow_num_attention_heads must be > 0 (or 0 for auto), got " + shadowHeads);
            check(
                    shadowKvHeads >= 0,
                    "shadow_num_key_value_heads must be > 0 (or 0 for auto), got " + shadowKvHeads);
            check(
                    shadowHeads == 0 || shadowKvHeads == 0 || shadowHeads % shadowKvHeads == 0,
                    "shadow_num_attention_heads ("
                            + shadowHeads
                            + ") must be a multiple of shadow_num_key_value_heads ("
                            + shadowKvHeads
                            + ")");
            check(
                    shadowHeads == 0
                            || shadowHiddenSize == 0
                            || shadowHiddenSize % shadowHeads == 0,
                    "shadow_hidden_size ("
                            + shadowHiddenSize
                            + ") must be divisible by shadow_num_attention_heads ("
                            + shadowHeads
                            + ")");
            check(injectionSize >= 1, "injection_hidden_size must be >= 1, got " + injectionSize);
            check(gateSize >= 2, "gate_hidden_size must be >= 2, got " + gateSize);
            check(Float.isFinite(alpha), "alpha must be finite, got " + alpha);
            check(dropout >= 0 && dropout < 1, "dropout must be in [0, 1), got " + dropout);
            check(
                    shadowLossWeight >= 0 && Float.isFinite(shadowLossWeight),
                    "shadow_loss_weight must be a finite value >= 0, got " + shadowLossWeight);
            check(
                    normEps >= 0 && Double.isFinite(normEps),
                    "shadow_norm_eps must be > 0 (or 0 for auto), got " + normEps);
            return new ShadowConfig(this);
        }

        private static void check(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException(message);
            }
        }
    }
}
