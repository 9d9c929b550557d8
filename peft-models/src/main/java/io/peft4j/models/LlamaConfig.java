package io.peft4j.models;

import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableList;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Immutable configuration of a LLaMA-family decoder ({@code model_type} {@code llama}, {@code
 * mistral} or {@code qwen2}), read from a Hugging Face {@code config.json} or built with {@link
 * #builder()}.
 */
public final class LlamaConfig {

    private final String modelType;
    private final int vocabSize;
    private final int hiddenSize;
    private final int intermediateSize;
    private final int numHiddenLayers;
    private final int numAttentionHeads;
    private final int numKeyValueHeads;
    private final int headDim;
    private final int maxPositionEmbeddings;
    private final double rmsNormEps;
    private final double ropeTheta;
    private final double ropeScalingFactor;
    private final boolean qkvBias;
    private final boolean outputBias;
    private final boolean mlpBias;
    private final boolean tieWordEmbeddings;
    private final int slidingWindow;
    private final int bosTokenId;
    private final ImmutableList<Integer> eosTokenIds;
    private final int padTokenId;
    private final double initializerRange;

    private LlamaConfig(Builder b) {
        Preconditions.checkArgument(
                List.of("llama", "mistral", "qwen2").contains(b.modelType),
                "model_type '%s' is not a LLaMA-family decoder (expected llama, mistral or qwen2)",
                b.modelType);
        Preconditions.checkArgument(b.vocabSize > 0, "vocab_size must be > 0, got %s", b.vocabSize);
        Preconditions.checkArgument(
                b.hiddenSize > 0, "hidden_size must be > 0, got %s", b.hiddenSize);
        Preconditions.checkArgument(
                b.intermediateSize > 0,
                "intermediate_size must be > 0, got %s",
                b.intermediateSize);
        Preconditions.checkArgument(
                b.numHiddenLayers > 0, "num_hidden_layers must be > 0, got %s", b.numHiddenLayers);
        Preconditions.checkArgument(
                b.numAttentionHeads > 0,
                "num_attention_heads must be > 0, got %s",
                b.numAttentionHeads);
        int kv = b.numKeyValueHeads > 0 ? b.numKeyValueHeads : b.numAttentionHeads;
        Preconditions.checkArgument(
                b.numAttentionHeads % kv == 0,
                "num_attention_heads (%s) must be a multiple of num_key_value_heads (%s)",
                b.numAttentionHeads,
                kv);
        int hd = b.headDim > 0 ? b.headDim : b.hiddenSize / b.numAttentionHeads;
        Preconditions.checkArgument(
                b.headDim > 0 || b.hiddenSize % b.numAttentionHeads == 0,
                "hidden_size (%s) must be a multiple of num_attention_heads (%s) when head_dim is absent",
                b.hiddenSize,
                b.numAttentionHeads);
        Preconditions.checkArgument(hd % 2 == 0, "head_dim must be even for RoPE, got %s", hd);
        Preconditions.checkArgument(
                b.ropeScalingFactor >= 1.0,
                "linear rope scaling factor must be >= 1, got %s",
                b.ropeScalingFactor);
        // numbers the model computes with: a value out of range would fail deep in the engine
        // ("normal expects std >= 0") or give NaN outputs, far from the config that caused it
        Preconditions.checkArgument(
                Double.isFinite(b.rmsNormEps) && b.rmsNormEps >= 0,
                "rms_norm_eps must be finite and >= 0, got %s",
                b.rmsNormEps);
        Preconditions.checkArgument(
                Double.isFinite(b.ropeTheta) && b.ropeTheta > 0,
                "rope_theta must be finite and > 0, got %s",
                b.ropeTheta);
        Preconditions.checkArgument(
                Double.isFinite(b.initializerRange) && b.initializerRange >= 0,
                "initializer_range must be finite and >= 0, got %s",
                b.initializerRange);
        modelType = b.modelType;
        vocabSize = b.vocabSize;
        hiddenSize = b.hiddenSize;
        intermediateSize = b.intermediateSize;
        numHiddenLayers = b.numHiddenLayers;
        numAttentionHeads = b.numAttentionHeads;
        numKeyValueHeads = kv;
        headDim = hd;
        maxPositionEmbeddings = b.maxPositionEmbeddings;
        rmsNormEps = b.rmsNormEps;
        ropeTheta = b.ropeTheta;
        ropeScalingFactor = b.ropeScalingFactor;
        qkvBias = b.qkvBias;
        outputBias = b.outputBias;
        mlpBias = b.mlpBias;
        tieWordEmbeddings = b.tieWordEmbeddings;
        slidingWindow = b.slidingWindow;
        bosTokenId = b.bosTokenId;
        eosTokenIds = ImmutableList.copyOf(b.eosTokenIds);
        padTokenId = b.padTokenId;
        initializerRange = b.initializerRange;
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
        long h = hiddenSize;
        long attention =
                Sizes.add(
                        Sizes.mul(2, h, numAttentionHeads, headDim),
                        Sizes.mul(2, h, numKeyValueHeads, headDim));
        long layer = Sizes.add(attention, Sizes.mul(3, h, intermediateSize));
        return Sizes.add(
                Sizes.mul(tieWordEmbeddings ? 1 : 2, vocabSize, h),
                Sizes.mul(numHiddenLayers, layer));
    }

    /**
     * @return the fields of a Hugging Face config.json for this configuration
     */
    JsonObject toJson() {
        JsonObject o = new JsonObject();
        com.google.gson.JsonArray arch = new com.google.gson.JsonArray();
        arch.add(architecture());
        o.add("architectures", arch);
        o.addProperty("model_type", modelType);
        o.addProperty("vocab_size", vocabSize);
        o.addProperty("hidden_size", hiddenSize);
        o.addProperty("intermediate_size", intermediateSize);
        o.addProperty("num_hidden_layers", numHiddenLayers);
        o.addProperty("num_attention_heads", numAttentionHeads);
        o.addProperty("num_key_value_heads", numKeyValueHeads);
        o.addProperty("head_dim", headDim);
        o.addProperty("max_position_embeddings", maxPositionEmbeddings);
        o.addProperty("rms_norm_eps", rmsNormEps);
        o.addProperty("rope_theta", ropeTheta);
        if (ropeScalingFactor != 1.0) {
            JsonObject rs = new JsonObject();
            rs.addProperty("rope_type", "linear");
            rs.addProperty("factor", ropeScalingFactor);
            o.add("rope_scaling", rs);
        }
        o.addProperty("hidden_act", "silu");
        o.addProperty("tie_word_embeddings", tieWordEmbeddings);
        if (modelType.equals("llama")) {
            Preconditions.checkState(
                    qkvBias == outputBias,
                    "llama's attention_bias covers q/k/v and o alike; got qkv=%s o=%s",
                    qkvBias,
                    outputBias);
            o.addProperty("attention_bias", qkvBias);
            o.addProperty("mlp_bias", mlpBias);
        }
        if (modelType.equals("mistral")) {
            o.addProperty("sliding_window", slidingWindow);
        }
        if (bosTokenId >= 0) {
            o.addProperty("bos_token_id", bosTokenId);
        }
        if (eosTokenIds.size() == 1) {
            o.addProperty("eos_token_id", eosTokenIds.get(0));
        } else if (!eosTokenIds.isEmpty()) {
            com.google.gson.JsonArray eos = new com.google.gson.JsonArray();
            eosTokenIds.forEach(eos::add);
            o.add("eos_token_id", eos);
        }
        if (padTokenId >= 0) {
            o.addProperty("pad_token_id", padTokenId);
        }
        o.addProperty("initializer_range", initializerRange);
        o.addProperty("torch_dtype", "float32");
        return o;
    }

    /**
     * @return the Hugging Face class name of the causal LM for this model type
     */
    public String architecture() {
        switch (modelType) {
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
        return new Builder();
    }

    /**
     * @return a builder holding this configuration's values
     */
    public Builder toBuilder() {
        return builder()
                .modelType(modelType)
                .vocabSize(vocabSize)
                .hiddenSize(hiddenSize)
                .intermediateSize(intermediateSize)
                .numHiddenLayers(numHiddenLayers)
                .numAttentionHeads(numAttentionHeads)
                .numKeyValueHeads(numKeyValueHeads)
                .headDim(headDim)
                .maxPositionEmbeddings(maxPositionEmbeddings)
                .rmsNormEps(rmsNormEps)
                .ropeTheta(ropeTheta)
                .ropeScalingFactor(ropeScalingFactor)
                .qkvBias(qkvBias)
                .outputBias(outputBias)
                .mlpBias(mlpBias)
                .tieWordEmbeddings(tieWordEmbeddings)
                .slidingWindow(slidingWindow)
                .bosTokenId(bosTokenId)
                .eosTokenIds(eosTokenIds)
                .padTokenId(padTokenId)
                .initializerRange(initializerRange);
    }

    /**
     * @return {@code llama}, {@code mistral} or {@code qwen2}
     */
    public String modelType() {
        return modelType;
    }

    /**
     * @return vocabulary size
     */
    public int vocabSize() {
        return vocabSize;
    }

    /**
     * @return model width
     */
    public int hiddenSize() {
        return hiddenSize;
    }

    /**
     * @return MLP width
     */
    public int intermediateSize() {
        return intermediateSize;
    }

    /**
     * @return number of decoder layers
     */
    public int numHiddenLayers() {
        return numHiddenLayers;
    }

    /**
     * @return number of query heads
     */
    public int numAttentionHeads() {
        return numAttentionHeads;
    }

    /**
     * @return number of key/value heads (grouped-query attention when fewer than query heads)
     */
    public int numKeyValueHeads() {
        return numKeyValueHeads;
    }

    /**
     * @return width of one attention head
     */
    public int headDim() {
        return headDim;
    }

    /**
     * @return the longest position the model was trained for (informational)
     */
    public int maxPositionEmbeddings() {
        return maxPositionEmbeddings;
    }

    /**
     * @return RMSNorm epsilon
     */
    public double rmsNormEps() {
        return rmsNormEps;
    }

    /**
     * @return RoPE base
     */
    public double ropeTheta() {
        return ropeTheta;
    }

    /**
     * @return linear RoPE scaling factor (1 = none): positions are divided by it
     */
    public double ropeScalingFactor() {
        return ropeScalingFactor;
    }

    /**
     * @return whether q/k/v projections have a bias (qwen2; llama with attention_bias)
     */
    public boolean qkvBias() {
        return qkvBias;
    }

    /**
     * @return whether o_proj has a bias (llama with attention_bias)
     */
    public boolean outputBias() {
        return outputBias;
    }

    /**
     * @return whether the MLP projections have a bias (llama mlp_bias)
     */
    public boolean mlpBias() {
        return mlpBias;
    }

    /**
     * @return whether lm_head shares embed_tokens' weight
     */
    public boolean tieWordEmbeddings() {
        return tieWordEmbeddings;
    }

    /**
     * @return sliding attention window in tokens (0 = full attention)
     */
    public int slidingWindow() {
        return slidingWindow;
    }

    /**
     * @return BOS id or -1
     */
    public int bosTokenId() {
        return bosTokenId;
    }

    /**
     * @return EOS ids (possibly empty)
     */
    public List<Integer> eosTokenIds() {
        return eosTokenIds;
    }

    /**
     * @return pad id or -1
     */
    public int padTokenId() {
        return padTokenId;
    }

    /**
     * @return standard deviation of the random normal initialisation of weights
     */
    public double initializerRange() {
        return initializerRange;
    }

    @Override
    public String toString() {
        return String.format(
                Locale.ROOT,
                "LlamaConfig{%s, vocab=%d, hidden=%d, mlp=%d, layers=%d, heads=%d, kvHeads=%d, headDim=%d, "
                        + "theta=%s, ropeScale=%s, qkvBias=%s, tied=%s, window=%d}",
                modelType,
                vocabSize,
                hiddenSize,
                intermediateSize,
                numHiddenLayers,
                numAttentionHeads,
                numKeyValueHeads,
                headDim,
                ropeTheta,
                ropeScalingFactor,
                qkvBias,
                tieWordEmbeddings,
                slidingWindow);
    }

    private List<Object> fields() {
        return java.util.Arrays.asList(
                modelType,
                vocabSize,
                hiddenSize,
                intermediateSize,
                numHiddenLayers,
                numAttentionHeads,
                numKeyValueHeads,
                headDim,
                maxPositionEmbeddings,
                rmsNormEps,
                ropeTheta,
                ropeScalingFactor,
                qkvBias,
                outputBias,
                mlpBias,
                tieWordEmbeddings,
                slidingWindow,
                bosTokenId,
                eosTokenIds,
                padTokenId,
                initializerRange);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LlamaConfig && fields().equals(((LlamaConfig) o).fields());
    }

    @Override
    public int hashCode() {
        return fields().hashCode();
    }

    /** Builder of {@link LlamaConfig}; unset fields take LLaMA defaults. */
    public static final class Builder {
        private String modelType = "llama";
        private int vocabSize = 32000;
        private int hiddenSize = 4096;
        private int intermediateSize = 11008;
        private int numHiddenLayers = 32;
        private int numAttentionHeads = 32;
        private int numKeyValueHeads;
        private int headDim;
        private int maxPositionEmbeddings = 2048;
        private double rmsNormEps = 1e-6;
        private double ropeTheta = 10000.0;
        private double ropeScalingFactor = 1.0;
        private boolean qkvBias;
        private boolean outputBias;
        private boolean mlpBias;
        private boolean tieWordEmbeddings;
        private int slidingWindow;
        private int bosTokenId = 1;
        private List<Integer> eosTokenIds = List.of(2);
        private int padTokenId = -1;
        private double initializerRange = 0.02;

        private Builder() {}

        /**
         * Sets {@code model_type}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder modelType(String v) {
            modelType = v;
            return this;
        }

        /**
         * Sets {@code vocab_size}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder vocabSize(int v) {
            vocabSize = v;
            return this;
        }

        /**
         * Sets {@code hidden_size}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder hiddenSize(int v) {
            hiddenSize = v;
            return this;
        }

        /**
         * Sets {@code intermediate_size}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder intermediateSize(int v) {
            intermediateSize = v;
            return this;
        }

        /**
         * Sets {@code num_hidden_layers}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder numHiddenLayers(int v) {
            numHiddenLayers = v;
            return this;
        }

        /**
         * Sets {@code num_attention_heads}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder numAttentionHeads(int v) {
            numAttentionHeads = v;
            return this;
        }

        /**
         * @param v key/value heads; 0 means equal to the query heads
         * @return this builder
         */
        public Builder numKeyValueHeads(int v) {
            numKeyValueHeads = v;
            return this;
        }

        /**
         * @param v head width; 0 means hidden_size / num_attention_heads
         * @return this builder
         */
        public Builder headDim(int v) {
            headDim = v;
            return this;
        }

        /**
         * Sets {@code max_position_embeddings}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder maxPositionEmbeddings(int v) {
            maxPositionEmbeddings = v;
            return this;
        }

        /**
         * Sets {@code rms_norm_eps}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder rmsNormEps(double v) {
            rmsNormEps = v;
            return this;
        }

        /**
         * Sets {@code rope_theta}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder ropeTheta(double v) {
            ropeTheta = v;
            return this;
        }

        /**
         * Sets {@code rope_scaling_factor}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder ropeScalingFactor(double v) {
            ropeScalingFactor = v;
            return this;
        }

        /**
         * Sets {@code qkv_bias}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder qkvBias(boolean v) {
            qkvBias = v;
            return this;
        }

        /**
         * Sets {@code output_bias}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder outputBias(boolean v) {
            outputBias = v;
            return this;
        }

        /**
         * Sets {@code mlp_bias}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder mlpBias(boolean v) {
            mlpBias = v;
            return this;
        }

        /**
         * Sets {@code tie_word_embeddings}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder tieWordEmbeddings(boolean v) {
            tieWordEmbeddings = v;
            return this;
        }

        /**
         * Sets {@code sliding_window}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder slidingWindow(int v) {
            slidingWindow = v;
            return this;
        }

        /**
         * Sets {@code bos_token_id}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder bosTokenId(int v) {
            bosTokenId = v;
            return this;
        }

        /**
         * Sets {@code eos_token_ids}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder eosTokenIds(List<Integer> v) {
            eosTokenIds = List.copyOf(v);
            return this;
        }

        /**
         * Sets {@code pad_token_id}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder padTokenId(int v) {
            padTokenId = v;
            return this;
        }

        /**
         * Sets {@code initializer_range}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder initializerRange(double v) {
            initializerRange = v;
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
