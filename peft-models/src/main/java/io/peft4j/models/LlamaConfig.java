package io.peft4j.models;

import com.google.common.base.Preconditions;
import com.google.gson.JsonObject;
import io.peft4j.core.config.ConfigKey;
import io.peft4j.core.config.ConfigValues;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Immutable configuration of a LLaMA-family decoder ({@code model_type} {@code llama}, {@code
 * mistral} or {@code qwen2}), read from a Hugging Face {@code config.json} or built with {@link
 * #builder()}.
 */
public final class LlamaConfig extends TransformerConfig {

    // Each setting declared once with its default (LLaMA-7B's) and the checks of its own value,
    // made when the config is built. toJson and parse hold the file's form, which is not one key
    // per value (rope_scaling, attention_bias, eos as an int or a list).
    private static final ConfigKey<String> MODEL_TYPE =
            ConfigKey.internal("model_type", "llama")
                    .check(
                            t -> List.of("llama", "mistral", "qwen2").contains(t),
                            "model_type '%s' is not a LLaMA-family decoder (expected llama, mistral or qwen2)");
    private static final ConfigKey<Integer> VOCAB_SIZE = ConfigKey.positiveInt("vocab_size", 32000);
    private static final ConfigKey<Integer> HIDDEN_SIZE =
            ConfigKey.positiveInt("hidden_size", 4096);
    private static final ConfigKey<Integer> INTERMEDIATE_SIZE =
            ConfigKey.positiveInt("intermediate_size", 11008);
    private static final ConfigKey<Integer> NUM_HIDDEN_LAYERS =
            ConfigKey.positiveInt("num_hidden_layers", 32);
    private static final ConfigKey<Integer> NUM_ATTENTION_HEADS =
            ConfigKey.positiveInt("num_attention_heads", 32);
    private static final ConfigKey<Integer> NUM_KEY_VALUE_HEADS =
            ConfigKey.internal("num_key_value_heads", 0);
    private static final ConfigKey<Integer> HEAD_DIM = ConfigKey.internal("head_dim", 0);
    private static final ConfigKey<Integer> MAX_POSITION_EMBEDDINGS =
            ConfigKey.internal("max_position_embeddings", 2048);
    private static final ConfigKey<Double> RMS_NORM_EPS =
            ConfigKey.internal("rms_norm_eps", 1e-6)
                    .check(
                            e -> Double.isFinite(e) && e >= 0,
                            "rms_norm_eps must be finite and >= 0, got %s");
    private static final ConfigKey<Double> ROPE_THETA =
            ConfigKey.internal("rope_theta", 10000.0)
                    .check(
                            t -> Double.isFinite(t) && t > 0,
                            "rope_theta must be finite and > 0, got %s");
    private static final ConfigKey<Double> ROPE_SCALING_FACTOR =
            ConfigKey.internal("rope_scaling_factor", 1.0)
                    .check(f -> f >= 1.0, "linear rope scaling factor must be >= 1, got %s");
    private static final ConfigKey<Boolean> QKV_BIAS = ConfigKey.internal("qkv_bias", false);
    private static final ConfigKey<Boolean> OUTPUT_BIAS = ConfigKey.internal("output_bias", false);
    private static final ConfigKey<Boolean> MLP_BIAS = ConfigKey.internal("mlp_bias", false);
    private static final ConfigKey<Boolean> TIE_WORD_EMBEDDINGS =
            ConfigKey.internal("tie_word_embeddings", false);
    private static final ConfigKey<Integer> SLIDING_WINDOW =
            ConfigKey.internal("sliding_window", 0);
    private static final ConfigKey<Integer> BOS_TOKEN_ID = ConfigKey.internal("bos_token_id", 1);
    private static final ConfigKey<List<Integer>> EOS_TOKEN_IDS =
            ConfigKey.<List<Integer>>internal("eos_token_ids", List.of(2));
    private static final ConfigKey<Integer> PAD_TOKEN_ID = ConfigKey.internal("pad_token_id", -1);
    private static final ConfigKey<Double> INITIALIZER_RANGE =
            ConfigKey.internal("initializer_range", 0.02)
                    .check(
                            r -> Double.isFinite(r) && r >= 0,
                            "initializer_range must be finite and >= 0, got %s");

    private static final ConfigValues DEFAULTS =
            ConfigValues.defaults(
                    MODEL_TYPE,
                    VOCAB_SIZE,
                    HIDDEN_SIZE,
                    INTERMEDIATE_SIZE,
                    NUM_HIDDEN_LAYERS,
                    NUM_ATTENTION_HEADS,
                    NUM_KEY_VALUE_HEADS,
                    HEAD_DIM,
                    MAX_POSITION_EMBEDDINGS,
                    RMS_NORM_EPS,
                    ROPE_THETA,
                    ROPE_SCALING_FACTOR,
                    QKV_BIAS,
                    OUTPUT_BIAS,
                    MLP_BIAS,
                    TIE_WORD_EMBEDDINGS,
                    SLIDING_WINDOW,
                    BOS_TOKEN_ID,
                    EOS_TOKEN_IDS,
                    PAD_TOKEN_ID,
                    INITIALIZER_RANGE);

    private static final Keys KEYS =
            new Keys(
                    VOCAB_SIZE,
                    HIDDEN_SIZE,
                    INTERMEDIATE_SIZE,
                    NUM_HIDDEN_LAYERS,
                    NUM_ATTENTION_HEADS,
                    MAX_POSITION_EMBEDDINGS,
                    PAD_TOKEN_ID,
                    INITIALIZER_RANGE);

    private LlamaConfig(Builder b) {
        super(KEYS, resolved(b.own.build()));
    }

    private static ConfigValues resolved(ConfigValues given) {
        // numbers the model computes with were checked by their keys (a value out of range would
        // fail deep in the engine, "normal expects std >= 0", or give NaN outputs); here the ones
        // that depend on each other, and the 0s (= derived) resolved in a copy
        int heads = given.get(NUM_ATTENTION_HEADS);
        int hidden = given.get(HIDDEN_SIZE);
        int kv = given.get(NUM_KEY_VALUE_HEADS) > 0 ? given.get(NUM_KEY_VALUE_HEADS) : heads;
        Preconditions.checkArgument(
                heads % kv == 0,
                "num_attention_heads (%s) must be a multiple of num_key_value_heads (%s)",
                heads,
                kv);
        Preconditions.checkArgument(
                given.get(HEAD_DIM) > 0 || hidden % heads == 0,
                "hidden_size (%s) must be a multiple of num_attention_heads (%s) when head_dim is absent",
                hidden,
                heads);
        int hd = given.get(HEAD_DIM) > 0 ? given.get(HEAD_DIM) : hidden / heads;
        Preconditions.checkArgument(hd % 2 == 0, "head_dim must be even for RoPE, got %s", hd);
        return given.toBuilder().put(NUM_KEY_VALUE_HEADS, kv).put(HEAD_DIM, hd).build();
    }

    /**
     * Reads a Hugging Face {@code config.json}.
     *
     * @param configJson the file
     * @return the configuration
     * @throws IllegalArgumentException if a field is missing, has a bad value, or names a feature
     *     this implementation does not have (e.g. a rope scaling other than linear)
     */
    public static LlamaConfig fromJson(Path configJson) {
        return fromJson(Json.readObject(configJson), configJson.toString());
    }

    static LlamaConfig fromJson(JsonObject o, String where) {
        try {
            return parse(o, where);
        } catch (IllegalArgumentException e) {
            throw Json.naming(where, e);
        }
    }

    private static LlamaConfig parse(JsonObject o, String where) {
        String type = Json.stringOr(o, "model_type", "");
        Builder b = builder().modelType(type);
        b.vocabSize(Json.requireInt(o, "vocab_size", where))
                .hiddenSize(Json.requireInt(o, "hidden_size", where))
                .intermediateSize(Json.requireInt(o, "intermediate_size", where))
                .numHiddenLayers(Json.requireInt(o, "num_hidden_layers", where))
                .numAttentionHeads(Json.requireInt(o, "num_attention_heads", where))
                .numKeyValueHeads(Json.intOr(o, "num_key_value_heads", 0))
                .headDim(Json.intOr(o, "head_dim", 0))
                .maxPositionEmbeddings(Json.intOr(o, "max_position_embeddings", 2048))
                .rmsNormEps(Json.doubleOr(o, "rms_norm_eps", 1e-6))
                .ropeTheta(Json.doubleOr(o, "rope_theta", 10000.0))
                .tieWordEmbeddings(Json.boolOr(o, "tie_word_embeddings", false))
                .bosTokenId(Json.intOr(o, "bos_token_id", -1))
                .eosTokenIds(Json.intList(o, "eos_token_id"))
                .padTokenId(Json.intOr(o, "pad_token_id", -1))
                .initializerRange(Json.doubleOr(o, "initializer_range", 0.02));
        String act = Json.stringOr(o, "hidden_act", "silu");
        if (!act.equals("silu") && !act.equals("swish")) {
            throw new IllegalArgumentException(
                    where + ": hidden_act '" + act + "' is not supported (expected silu)");
        }
        switch (type) {
            case "llama":
                boolean bias = Json.boolOr(o, "attention_bias", false);
                b.qkvBias(bias).outputBias(bias).mlpBias(Json.boolOr(o, "mlp_bias", false));
                break;
            case "qwen2":
                b.qkvBias(true).outputBias(false);
                if (Json.boolOr(o, "use_sliding_window", false)) {
                    throw new IllegalArgumentException(
                            where + ": qwen2 use_sliding_window=true is not supported");
                }
                break;
            case "mistral":
                b.slidingWindow(Json.intOr(o, "sliding_window", 0));
                break;
            default:
                throw new IllegalArgumentException(
                        where + ": model_type '" + type + "' is not llama, mistral or qwen2");
        }
        JsonObject rs = Json.objectOr(o, "rope_scaling");
        if (rs != null) {
            String kind = Json.stringOr(rs, "rope_type", Json.stringOr(rs, "type", "default"));
            if (kind.equals("linear")) {
                b.ropeScalingFactor(Json.doubleOr(rs, "factor", 1.0));
            } else if (!kind.equals("default")) {
                throw new IllegalArgumentException(
                        where
                                + ": rope_scaling type '"
                                + kind
                                + "' is not supported (supported: linear)");
            }
        }
        if (Json.doubleOr(o, "partial_rotary_factor", 1.0) != 1.0) {
            throw new IllegalArgumentException(
                    where + ": partial_rotary_factor != 1 is not supported");
        }
        return b.build();
    }

    /**
     * A lower bound of the model's parameter count (its weight matrices and embeddings; biases and
     * norms left out), computed without building anything: a checkpoint that holds fewer values
     * cannot fit, so a config that disagrees with it is refused before anything is allocated.
     *
     * @return the bound, {@link Long#MAX_VALUE} if it overflows
     */
    long minParameterCount() {
        long h = hiddenSize();
        long attention =
                Sizes.add(
                        Sizes.mul(2, h, numAttentionHeads(), headDim()),
                        Sizes.mul(2, h, numKeyValueHeads(), headDim()));
        long layer = Sizes.add(attention, Sizes.mul(3, h, intermediateSize()));
        return Sizes.add(
                Sizes.mul(tieWordEmbeddings() ? 1 : 2, vocabSize(), h),
                Sizes.mul(numHiddenLayers(), layer));
    }

    /**
     * @return the fields of a Hugging Face config.json for this configuration
     */
    JsonObject toJson() {
        JsonObject o = new JsonObject();
        com.google.gson.JsonArray arch = new com.google.gson.JsonArray();
        arch.add(architecture());
        o.add("architectures", arch);
        o.addProperty("model_type", modelType());
        o.addProperty("vocab_size", vocabSize());
        o.addProperty("hidden_size", hiddenSize());
        o.addProperty("intermediate_size", intermediateSize());
        o.addProperty("num_hidden_layers", numHiddenLayers());
        o.addProperty("num_attention_heads", numAttentionHeads());
        o.addProperty("num_key_value_heads", numKeyValueHeads());
        o.addProperty("head_dim", headDim());
        o.addProperty("max_position_embeddings", maxPositionEmbeddings());
        o.addProperty("rms_norm_eps", rmsNormEps());
        o.addProperty("rope_theta", ropeTheta());
        if (ropeScalingFactor() != 1.0) {
            JsonObject rs = new JsonObject();
            rs.addProperty("rope_type", "linear");
            rs.addProperty("factor", ropeScalingFactor());
            o.add("rope_scaling", rs);
        }
        o.addProperty("hidden_act", "silu");
        o.addProperty("tie_word_embeddings", tieWordEmbeddings());
        if (modelType().equals("llama")) {
            Preconditions.checkState(
                    qkvBias() == outputBias(),
                    "llama's attention_bias covers q/k/v and o alike; got qkv=%s o=%s",
                    qkvBias(),
                    outputBias());
            o.addProperty("attention_bias", qkvBias());
            o.addProperty("mlp_bias", mlpBias());
        }
        if (modelType().equals("mistral")) {
            o.addProperty("sliding_window", slidingWindow());
        }
        if (bosTokenId() >= 0) {
            o.addProperty("bos_token_id", bosTokenId());
        }
        if (eosTokenIds().size() == 1) {
            o.addProperty("eos_token_id", eosTokenIds().get(0));
        } else if (!eosTokenIds().isEmpty()) {
            com.google.gson.JsonArray eos = new com.google.gson.JsonArray();
            eosTokenIds().forEach(eos::add);
            o.add("eos_token_id", eos);
        }
        if (padTokenId() >= 0) {
            o.addProperty("pad_token_id", padTokenId());
        }
        o.addProperty("initializer_range", initializerRange());
        o.addProperty("torch_dtype", "float32");
        return o;
    }

    /**
     * @return the Hugging Face class name of the causal LM for this model type
     */
    public String architecture() {
        switch (modelType()) {
            case "mistral":
                return "MistralForCausalLM";
            case "qwen2":
                return "Qwen2ForCausalLM";
            default:
                return "LlamaForCausalLM";
        }
    }

    /**
     * @return a builder with LLaMA defaults
     */
    public static Builder builder() {
        return new Builder(DEFAULTS.toBuilder());
    }

    /**
     * @return a builder holding this configuration's values
     */
    public Builder toBuilder() {
        return new Builder(values().toBuilder());
    }

    /**
     * @return {@code llama}, {@code mistral} or {@code qwen2}
     */
    public String modelType() {
        return values().get(MODEL_TYPE);
    }

    /**
     * @return number of key/value heads (grouped-query attention when fewer than query heads)
     */
    public int numKeyValueHeads() {
        return values().get(NUM_KEY_VALUE_HEADS);
    }

    /**
     * @return width of one attention head
     */
    public int headDim() {
        return values().get(HEAD_DIM);
    }

    /**
     * @return RMSNorm epsilon
     */
    public double rmsNormEps() {
        return values().get(RMS_NORM_EPS);
    }

    /**
     * @return RoPE base
     */
    public double ropeTheta() {
        return values().get(ROPE_THETA);
    }

    /**
     * @return linear RoPE scaling factor (1 = none): positions are divided by it
     */
    public double ropeScalingFactor() {
        return values().get(ROPE_SCALING_FACTOR);
    }

    /**
     * @return whether q/k/v projections have a bias (qwen2; llama with attention_bias)
     */
    public boolean qkvBias() {
        return values().get(QKV_BIAS);
    }

    /**
     * @return whether o_proj has a bias (llama with attention_bias)
     */
    public boolean outputBias() {
        return values().get(OUTPUT_BIAS);
    }

    /**
     * @return whether the MLP projections have a bias (llama mlp_bias)
     */
    public boolean mlpBias() {
        return values().get(MLP_BIAS);
    }

    /**
     * @return whether lm_head shares embed_tokens' weight
     */
    public boolean tieWordEmbeddings() {
        return values().get(TIE_WORD_EMBEDDINGS);
    }

    /**
     * @return sliding attention window in tokens (0 = full attention)
     */
    public int slidingWindow() {
        return values().get(SLIDING_WINDOW);
    }

    /**
     * @return BOS id or -1
     */
    public int bosTokenId() {
        return values().get(BOS_TOKEN_ID);
    }

    /**
     * @return EOS ids (possibly empty)
     */
    public List<Integer> eosTokenIds() {
        return values().get(EOS_TOKEN_IDS);
    }

    @Override
    public String toString() {
        return String.format(
                Locale.ROOT,
                "LlamaConfig{%s, vocab=%d, hidden=%d, mlp=%d, layers=%d, heads=%d, kvHeads=%d, headDim=%d, "
                        + "theta=%s, ropeScale=%s, qkvBias=%s, tied=%s, window=%d}",
                modelType(),
                vocabSize(),
                hiddenSize(),
                intermediateSize(),
                numHiddenLayers(),
                numAttentionHeads(),
                numKeyValueHeads(),
                headDim(),
                ropeTheta(),
                ropeScalingFactor(),
                qkvBias(),
                tieWordEmbeddings(),
                slidingWindow());
    }

    /** Builder of {@link LlamaConfig}; unset fields take LLaMA defaults. */
    public static final class Builder extends TransformerConfig.Builder<Builder> {

        private Builder(ConfigValues.Builder own) {
            super(KEYS, own);
        }

        @Override
        Builder self() {
            return this;
        }

        /**
         * Sets {@code model_type}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder modelType(String v) {
            own.put(MODEL_TYPE, v);
            return this;
        }

        /**
         * @param v key/value heads; 0 means equal to the query heads
         * @return this builder
         */
        public Builder numKeyValueHeads(int v) {
            own.put(NUM_KEY_VALUE_HEADS, v);
            return this;
        }

        /**
         * @param v head width; 0 means hidden_size / num_attention_heads
         * @return this builder
         */
        public Builder headDim(int v) {
            own.put(HEAD_DIM, v);
            return this;
        }

        /**
         * Sets {@code rms_norm_eps}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder rmsNormEps(double v) {
            own.put(RMS_NORM_EPS, v);
            return this;
        }

        /**
         * Sets {@code rope_theta}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder ropeTheta(double v) {
            own.put(ROPE_THETA, v);
            return this;
        }

        /**
         * Sets {@code rope_scaling_factor}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder ropeScalingFactor(double v) {
            own.put(ROPE_SCALING_FACTOR, v);
            return this;
        }

        /**
         * Sets {@code qkv_bias}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder qkvBias(boolean v) {
            own.put(QKV_BIAS, v);
            return this;
        }

        /**
         * Sets {@code output_bias}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder outputBias(boolean v) {
            own.put(OUTPUT_BIAS, v);
            return this;
        }

        /**
         * Sets {@code mlp_bias}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder mlpBias(boolean v) {
            own.put(MLP_BIAS, v);
            return this;
        }

        /**
         * Sets {@code tie_word_embeddings}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder tieWordEmbeddings(boolean v) {
            own.put(TIE_WORD_EMBEDDINGS, v);
            return this;
        }

        /**
         * Sets {@code sliding_window}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder slidingWindow(int v) {
            own.put(SLIDING_WINDOW, v);
            return this;
        }

        /**
         * Sets {@code bos_token_id}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder bosTokenId(int v) {
            own.put(BOS_TOKEN_ID, v);
            return this;
        }

        /**
         * Sets {@code eos_token_ids}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder eosTokenIds(List<Integer> v) {
            own.put(EOS_TOKEN_IDS, List.copyOf(v));
            return this;
        }

        /**
         * @return the validated configuration
         */
        public LlamaConfig build() {
            return new LlamaConfig(this);
        }
    }
}
