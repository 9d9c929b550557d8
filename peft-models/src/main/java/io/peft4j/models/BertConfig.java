package io.peft4j.models;

import com.google.common.base.Preconditions;
import com.google.gson.JsonObject;
import io.peft4j.core.config.ConfigKey;
import io.peft4j.core.config.ConfigValues;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Immutable configuration of a BERT-family encoder ({@code model_type} {@code bert}), read from a
 * Hugging Face {@code config.json} or built with {@link #builder()}.
 */
public final class BertConfig extends TransformerConfig {

    // Each setting declared once with its default (bert-base's) and the checks of its own value.
    private static final ConfigKey<Integer> VOCAB_SIZE = ConfigKey.positiveInt("vocab_size", 30522);
    private static final ConfigKey<Integer> HIDDEN_SIZE = ConfigKey.internal("hidden_size", 768);
    private static final ConfigKey<Integer> NUM_HIDDEN_LAYERS =
            ConfigKey.positiveInt("num_hidden_layers", 12);
    private static final ConfigKey<Integer> NUM_ATTENTION_HEADS =
            ConfigKey.internal("num_attention_heads", 12);
    private static final ConfigKey<Integer> INTERMEDIATE_SIZE =
            ConfigKey.positiveInt("intermediate_size", 3072);
    private static final ConfigKey<Integer> MAX_POSITION_EMBEDDINGS =
            ConfigKey.positiveInt("max_position_embeddings", 512);
    private static final ConfigKey<Integer> TYPE_VOCAB_SIZE =
            ConfigKey.positiveInt("type_vocab_size", 2);
    private static final ConfigKey<Double> LAYER_NORM_EPS =
            ConfigKey.internal("layer_norm_eps", 1e-12)
                    .check(
                            e -> Double.isFinite(e) && e >= 0,
                            "layer_norm_eps must be finite and >= 0, got %s");
    private static final ConfigKey<Double> HIDDEN_DROPOUT_PROB =
            ConfigKey.internal("hidden_dropout_prob", 0.1)
                    .check(p -> p >= 0 && p < 1, "hidden_dropout_prob must be in [0, 1), got %s");
    private static final ConfigKey<Double> ATTENTION_PROBS_DROPOUT_PROB =
            ConfigKey.internal("attention_probs_dropout_prob", 0.1)
                    .check(
                            p -> p >= 0 && p < 1,
                            "attention_probs_dropout_prob must be in [0, 1), got %s");
    private static final ConfigKey<Integer> PAD_TOKEN_ID = ConfigKey.internal("pad_token_id", 0);
    private static final ConfigKey<Integer> NUM_LABELS = ConfigKey.positiveInt("num_labels", 2);
    private static final ConfigKey<Boolean> ADD_POOLING_LAYER =
            ConfigKey.internal("add_pooling_layer", true);
    private static final ConfigKey<Double> INITIALIZER_RANGE =
            ConfigKey.internal("initializer_range", 0.02)
                    .check(
                            r -> Double.isFinite(r) && r >= 0,
                            "initializer_range must be finite and >= 0, got %s");

    private static final ConfigValues DEFAULTS =
            ConfigValues.defaults(
                    VOCAB_SIZE,
                    HIDDEN_SIZE,
                    NUM_HIDDEN_LAYERS,
                    NUM_ATTENTION_HEADS,
                    INTERMEDIATE_SIZE,
                    MAX_POSITION_EMBEDDINGS,
                    TYPE_VOCAB_SIZE,
                    LAYER_NORM_EPS,
                    HIDDEN_DROPOUT_PROB,
                    ATTENTION_PROBS_DROPOUT_PROB,
                    PAD_TOKEN_ID,
                    NUM_LABELS,
                    ADD_POOLING_LAYER,
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

    private BertConfig(Builder b) {
        super(KEYS, checked(b.own.build()));
    }

    /**
     * Each value's own checks are its key's (made by {@code build()}); here the pair that depends
     * on each other.
     */
    private static ConfigValues checked(ConfigValues given) {
        int hidden = given.get(HIDDEN_SIZE);
        int heads = given.get(NUM_ATTENTION_HEADS);
        Preconditions.checkArgument(
                hidden > 0 && heads > 0 && hidden % heads == 0,
                "hidden_size (%s) must be a positive multiple of num_attention_heads (%s)",
                hidden,
                heads);
        return given;
    }

    /**
     * Reads a Hugging Face {@code config.json}.
     *
     * @param configJson the file
     * @return the configuration (with a pooling layer; {@link HfCheckpoint} turns it off when the
     *     checkpoint has none)
     * @throws IllegalArgumentException on a missing field or a feature not implemented here
     */
    public static BertConfig fromJson(Path configJson) {
        return fromJson(Json.readObject(configJson), configJson.toString());
    }

    static BertConfig fromJson(JsonObject o, String where) {
        try {
            return parse(o, where);
        } catch (IllegalArgumentException e) {
            throw Json.naming(where, e);
        }
    }

    private static BertConfig parse(JsonObject o, String where) {
        String type = Json.stringOr(o, "model_type", "");
        if (!type.equals("bert")) {
            throw new IllegalArgumentException(where + ": model_type '" + type + "' is not bert");
        }
        String act = Json.stringOr(o, "hidden_act", "gelu");
        if (!act.equals("gelu")) {
            throw new IllegalArgumentException(
                    where
                            + ": hidden_act '"
                            + act
                            + "' is not supported (expected gelu, the exact erf form)");
        }
        String pos = Json.stringOr(o, "position_embedding_type", "absolute");
        if (!pos.equals("absolute")) {
            throw new IllegalArgumentException(
                    where
                            + ": position_embedding_type '"
                            + pos
                            + "' is not supported (expected absolute)");
        }
        int labels =
                Json.has(o, "id2label")
                        ? Json.objectOr(o, "id2label").size()
                        : Json.intOr(o, "num_labels", 2);
        return builder()
                .vocabSize(Json.requireInt(o, "vocab_size", where))
                .hiddenSize(Json.requireInt(o, "hidden_size", where))
                .numHiddenLayers(Json.requireInt(o, "num_hidden_layers", where))
                .numAttentionHeads(Json.requireInt(o, "num_attention_heads", where))
                .intermediateSize(Json.requireInt(o, "intermediate_size", where))
                .maxPositionEmbeddings(Json.intOr(o, "max_position_embeddings", 512))
                .typeVocabSize(Json.intOr(o, "type_vocab_size", 2))
                .layerNormEps(Json.doubleOr(o, "layer_norm_eps", 1e-12))
                .hiddenDropoutProb(Json.doubleOr(o, "hidden_dropout_prob", 0.1))
                .attentionProbsDropoutProb(Json.doubleOr(o, "attention_probs_dropout_prob", 0.1))
                .padTokenId(Json.intOr(o, "pad_token_id", 0))
                .numLabels(labels)
                .initializerRange(Json.doubleOr(o, "initializer_range", 0.02))
                .build();
    }

    /**
     * A lower bound of the model's parameter count (its weight matrices and embeddings; biases,
     * norms, pooler and classifier left out), computed without building anything: a checkpoint that
     * holds fewer values cannot fit, so a config that disagrees with it is refused before anything
     * is allocated.
     *
     * @return the bound, {@link Long#MAX_VALUE} if it overflows
     */
    long minParameterCount() {
        long h = hiddenSize();
        long embeddings =
                Sizes.mul(Sizes.add(vocabSize(), maxPositionEmbeddings(), typeVocabSize()), h);
        long layer = Sizes.add(Sizes.mul(4, h, h), Sizes.mul(2, h, intermediateSize()));
        return Sizes.add(embeddings, Sizes.mul(numHiddenLayers(), layer));
    }

    /**
     * @param architecture the Hugging Face class name to record ({@code BertModel}, ...)
     * @return the fields of a Hugging Face config.json for this configuration
     */
    JsonObject toJson(String architecture) {
        JsonObject o = new JsonObject();
        com.google.gson.JsonArray arch = new com.google.gson.JsonArray();
        arch.add(architecture);
        o.add("architectures", arch);
        o.addProperty("model_type", "bert");
        o.addProperty("vocab_size", vocabSize());
        o.addProperty("hidden_size", hiddenSize());
        o.addProperty("num_hidden_layers", numHiddenLayers());
        o.addProperty("num_attention_heads", numAttentionHeads());
        o.addProperty("intermediate_size", intermediateSize());
        o.addProperty("hidden_act", "gelu");
        o.addProperty("hidden_dropout_prob", hiddenDropoutProb());
        o.addProperty("attention_probs_dropout_prob", attentionProbsDropoutProb());
        o.addProperty("max_position_embeddings", maxPositionEmbeddings());
        o.addProperty("type_vocab_size", typeVocabSize());
        o.addProperty("layer_norm_eps", layerNormEps());
        o.addProperty("pad_token_id", padTokenId());
        o.addProperty("position_embedding_type", "absolute");
        o.addProperty("num_labels", numLabels());
        o.addProperty("initializer_range", initializerRange());
        o.addProperty("torch_dtype", "float32");
        return o;
    }

    /**
     * @return a builder with bert-base defaults
     */
    public static Builder builder() {
        return new Builder(DEFAULTS.toBuilder());
    }

    /**
     * The architecture of sentence-transformers' all-MiniLM-L6-v2 (its {@code config.json}; an ONNX
     * export carries none): 6 layers, hidden 384, 12 heads, MLP 1536, vocab 30,522.
     *
     * @return the configuration
     */
    public static BertConfig allMiniLmL6V2() {
        return builder()
                .vocabSize(30522)
                .hiddenSize(384)
                .numHiddenLayers(6)
                .numAttentionHeads(12)
                .intermediateSize(1536)
                .maxPositionEmbeddings(512)
                .typeVocabSize(2)
                .layerNormEps(1e-12)
                .hiddenDropoutProb(0.1)
                .attentionProbsDropoutProb(0.1)
                .padTokenId(0)
                .initializerRange(0.02)
                .build();
    }

    /**
     * @return a builder holding this configuration's values
     */
    public Builder toBuilder() {
        return new Builder(values().toBuilder());
    }

    /**
     * @return hidden_size / num_attention_heads
     */
    public int headDim() {
        return hiddenSize() / numAttentionHeads();
    }

    /** {@return the number of token types ({@code type_vocab_size})} */
    public int typeVocabSize() {
        return values().get(TYPE_VOCAB_SIZE);
    }

    /** {@return the layer-norm epsilon ({@code layer_norm_eps})} */
    public double layerNormEps() {
        return values().get(LAYER_NORM_EPS);
    }

    /**
     * @return dropout on hidden states, applied only in training passes
     */
    public double hiddenDropoutProb() {
        return values().get(HIDDEN_DROPOUT_PROB);
    }

    /**
     * @return dropout on attention weights, applied only in training passes
     */
    public double attentionProbsDropoutProb() {
        return values().get(ATTENTION_PROBS_DROPOUT_PROB);
    }

    /**
     * @return classes of the sequence-classification head
     */
    public int numLabels() {
        return values().get(NUM_LABELS);
    }

    /**
     * @return whether {@link BertModel} has a {@code pooler}
     */
    public boolean addPoolingLayer() {
        return values().get(ADD_POOLING_LAYER);
    }

    @Override
    public String toString() {
        return String.format(
                Locale.ROOT,
                "BertConfig{vocab=%d, hidden=%d, layers=%d, heads=%d, mlp=%d, maxPos=%d, types=%d, "
                        + "eps=%s, labels=%d, pooler=%s}",
                vocabSize(),
                hiddenSize(),
                numHiddenLayers(),
                numAttentionHeads(),
                intermediateSize(),
                maxPositionEmbeddings(),
                typeVocabSize(),
                layerNormEps(),
                numLabels(),
                addPoolingLayer());
    }

    /** Builder of {@link BertConfig}. */
    public static final class Builder extends TransformerConfig.Builder<Builder> {

        private Builder(ConfigValues.Builder own) {
            super(KEYS, own);
        }

        @Override
        Builder self() {
            return this;
        }

        /**
         * Sets {@code type_vocab_size}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder typeVocabSize(int v) {
            own.put(TYPE_VOCAB_SIZE, v);
            return this;
        }

        /**
         * Sets {@code layer_norm_eps}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder layerNormEps(double v) {
            own.put(LAYER_NORM_EPS, v);
            return this;
        }

        /**
         * Sets {@code hidden_dropout_prob}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder hiddenDropoutProb(double v) {
            own.put(HIDDEN_DROPOUT_PROB, v);
            return this;
        }

        /**
         * Sets {@code attention_probs_dropout_prob}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder attentionProbsDropoutProb(double v) {
            own.put(ATTENTION_PROBS_DROPOUT_PROB, v);
            return this;
        }

        /**
         * Sets {@code num_labels}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder numLabels(int v) {
            own.put(NUM_LABELS, v);
            return this;
        }

        /**
         * Sets {@code add_pooling_layer}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder addPoolingLayer(boolean v) {
            own.put(ADD_POOLING_LAYER, v);
            return this;
        }

        /**
         * @return the validated configuration
         */
        public BertConfig build() {
            return new BertConfig(this);
        }
    }
}
