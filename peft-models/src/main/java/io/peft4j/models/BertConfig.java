package io.peft4j.models;

import com.google.common.base.Preconditions;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Immutable configuration of a BERT-family encoder ({@code model_type} {@code bert}), read from a
 * Hugging Face {@code config.json} or built with {@link #builder()}.
 */
public final class BertConfig {

    private final int vocabSize;
    private final int hiddenSize;
    private final int numHiddenLayers;
    private final int numAttentionHeads;
    private final int intermediateSize;
    private final int maxPositionEmbeddings;
    private final int typeVocabSize;
    private final double layerNormEps;
    private final double hiddenDropoutProb;
    private final double attentionProbsDropoutProb;
    private final int padTokenId;
    private final int numLabels;
    private final boolean addPoolingLayer;
    private final double initializerRange;

    private BertConfig(Builder b) {
        Preconditions.checkArgument(
                b.hiddenSize > 0
                        && b.numAttentionHeads > 0
                        && b.hiddenSize % b.numAttentionHeads == 0,
                "hidden_size (%s) must be a positive multiple of num_attention_heads (%s)",
                b.hiddenSize,
                b.numAttentionHeads);
        Preconditions.checkArgument(b.vocabSize > 0, "vocab_size must be > 0, got %s", b.vocabSize);
        Preconditions.checkArgument(
                b.numHiddenLayers > 0, "num_hidden_layers must be > 0, got %s", b.numHiddenLayers);
        Preconditions.checkArgument(
                b.intermediateSize > 0,
                "intermediate_size must be > 0, got %s",
                b.intermediateSize);
        Preconditions.checkArgument(
                b.maxPositionEmbeddings > 0, "max_position_embeddings must be > 0");
        Preconditions.checkArgument(b.typeVocabSize > 0, "type_vocab_size must be > 0");
        Preconditions.checkArgument(b.numLabels > 0, "num_labels must be > 0, got %s", b.numLabels);
        // numbers the model computes with: out of range they fail deep in the engine or give NaN
        Preconditions.checkArgument(
                Double.isFinite(b.layerNormEps) && b.layerNormEps >= 0,
                "layer_norm_eps must be finite and >= 0, got %s",
                b.layerNormEps);
        Preconditions.checkArgument(
                b.hiddenDropoutProb >= 0 && b.hiddenDropoutProb < 1,
                "hidden_dropout_prob must be in [0, 1), got %s",
                b.hiddenDropoutProb);
        Preconditions.checkArgument(
                b.attentionProbsDropoutProb >= 0 && b.attentionProbsDropoutProb < 1,
                "attention_probs_dropout_prob must be in [0, 1), got %s",
                b.attentionProbsDropoutProb);
        Preconditions.checkArgument(
                Double.isFinite(b.initializerRange) && b.initializerRange >= 0,
                "initializer_range must be finite and >= 0, got %s",
                b.initializerRange);
        vocabSize = b.vocabSize;
        hiddenSize = b.hiddenSize;
        numHiddenLayers = b.numHiddenLayers;
        numAttentionHeads = b.numAttentionHeads;
        intermediateSize = b.intermediateSize;
        maxPositionEmbeddings = b.maxPositionEmbeddings;
        typeVocabSize = b.typeVocabSize;
        layerNormEps = b.layerNormEps;
        hiddenDropoutProb = b.hiddenDropoutProb;
        attentionProbsDropoutProb = b.attentionProbsDropoutProb;
        padTokenId = b.padTokenId;
        numLabels = b.numLabels;
        addPoolingLayer = b.addPoolingLayer;
        initializerRange = b.initializerRange;
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
        long h = hiddenSize;
        long embeddings = Sizes.mul(Sizes.add(vocabSize, maxPositionEmbeddings, typeVocabSize), h);
        long layer = Sizes.add(Sizes.mul(4, h, h), Sizes.mul(2, h, intermediateSize));
        return Sizes.add(embeddings, Sizes.mul(numHiddenLayers, layer));
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
        o.addProperty("vocab_size", vocabSize);
        o.addProperty("hidden_size", hiddenSize);
        o.addProperty("num_hidden_layers", numHiddenLayers);
        o.addProperty("num_attention_heads", numAttentionHeads);
        o.addProperty("intermediate_size", intermediateSize);
        o.addProperty("hidden_act", "gelu");
        o.addProperty("hidden_dropout_prob", hiddenDropoutProb);
        o.addProperty("attention_probs_dropout_prob", attentionProbsDropoutProb);
        o.addProperty("max_position_embeddings", maxPositionEmbeddings);
        o.addProperty("type_vocab_size", typeVocabSize);
        o.addProperty("layer_norm_eps", layerNormEps);
        o.addProperty("pad_token_id", padTokenId);
        o.addProperty("position_embedding_type", "absolute");
        o.addProperty("num_labels", numLabels);
        o.addProperty("initializer_range", initializerRange);
        o.addProperty("torch_dtype", "float32");
        return o;
    }

    /**
     * @return a builder with bert-base defaults
     */
    public static Builder builder() {
        return new Builder();
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
        return builder()
                .vocabSize(vocabSize)
                .hiddenSize(hiddenSize)
                .numHiddenLayers(numHiddenLayers)
                .numAttentionHeads(numAttentionHeads)
                .intermediateSize(intermediateSize)
                .maxPositionEmbeddings(maxPositionEmbeddings)
                .typeVocabSize(typeVocabSize)
                .layerNormEps(layerNormEps)
                .hiddenDropoutProb(hiddenDropoutProb)
                .attentionProbsDropoutProb(attentionProbsDropoutProb)
                .padTokenId(padTokenId)
                .numLabels(numLabels)
                .addPoolingLayer(addPoolingLayer)
                .initializerRange(initializerRange);
    }

    /** {@return the vocabulary size ({@code vocab_size})} */
    public int vocabSize() {
        return vocabSize;
    }

    /** {@return the hidden size ({@code hidden_size})} */
    public int hiddenSize() {
        return hiddenSize;
    }

    /** {@return the number of layers ({@code num_hidden_layers})} */
    public int numHiddenLayers() {
        return numHiddenLayers;
    }

    /** {@return the number of attention heads ({@code num_attention_heads})} */
    public int numAttentionHeads() {
        return numAttentionHeads;
    }

    /**
     * @return hidden_size / num_attention_heads
     */
    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /** {@return the feed-forward width ({@code intermediate_size})} */
    public int intermediateSize() {
        return intermediateSize;
    }

    /** {@return the number of positions ({@code max_position_embeddings})} */
    public int maxPositionEmbeddings() {
        return maxPositionEmbeddings;
    }

    /** {@return the number of token types ({@code type_vocab_size})} */
    public int typeVocabSize() {
        return typeVocabSize;
    }

    /** {@return the layer-norm epsilon ({@code layer_norm_eps})} */
    public double layerNormEps() {
        return layerNormEps;
    }

    /**
     * @return dropout on hidden states, applied only in training passes
     */
    public double hiddenDropoutProb() {
        return hiddenDropoutProb;
    }

    /**
     * @return dropout on attention weights, applied only in training passes
     */
    public double attentionProbsDropoutProb() {
        return attentionProbsDropoutProb;
    }

    /** {@return the padding token id ({@code pad_token_id})} */
    public int padTokenId() {
        return padTokenId;
    }

    /**
     * @return classes of the sequence-classification head
     */
    public int numLabels() {
        return numLabels;
    }

    /**
     * @return whether {@link BertModel} has a {@code pooler}
     */
    public boolean addPoolingLayer() {
        return addPoolingLayer;
    }

    /** {@return the standard deviation of the weight initialisation ({@code initializer_range})} */
    public double initializerRange() {
        return initializerRange;
    }

    private List<Object> fields() {
        return Arrays.asList(
                vocabSize,
                hiddenSize,
                numHiddenLayers,
                numAttentionHeads,
                intermediateSize,
                maxPositionEmbeddings,
                typeVocabSize,
                layerNormEps,
                hiddenDropoutProb,
                attentionProbsDropoutProb,
                padTokenId,
                numLabels,
                addPoolingLayer,
                initializerRange);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof BertConfig && fields().equals(((BertConfig) o).fields());
    }

    @Override
    public int hashCode() {
        return fields().hashCode();
    }

    @Override
    public String toString() {
        return String.format(
                Locale.ROOT,
                "BertConfig{vocab=%d, hidden=%d, layers=%d, heads=%d, mlp=%d, maxPos=%d, types=%d, "
                        + "eps=%s, labels=%d, pooler=%s}",
                vocabSize,
                hiddenSize,
                numHiddenLayers,
                numAttentionHeads,
                intermediateSize,
                maxPositionEmbeddings,
                typeVocabSize,
                layerNormEps,
                numLabels,
                addPoolingLayer);
    }

    /** Builder of {@link BertConfig}. */
    public static final class Builder {
        private int vocabSize = 30522;
        private int hiddenSize = 768;
        private int numHiddenLayers = 12;
        private int numAttentionHeads = 12;
        private int intermediateSize = 3072;
        private int maxPositionEmbeddings = 512;
        private int typeVocabSize = 2;
        private double layerNormEps = 1e-12;
        private double hiddenDropoutProb = 0.1;
        private double attentionProbsDropoutProb = 0.1;
        private int padTokenId;
        private int numLabels = 2;
        private boolean addPoolingLayer = true;
        private double initializerRange = 0.02;

        private Builder() {}

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
         * Sets {@code type_vocab_size}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder typeVocabSize(int v) {
            typeVocabSize = v;
            return this;
        }

        /**
         * Sets {@code layer_norm_eps}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder layerNormEps(double v) {
            layerNormEps = v;
            return this;
        }

        /**
         * Sets {@code hidden_dropout_prob}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder hiddenDropoutProb(double v) {
            hiddenDropoutProb = v;
            return this;
        }

        /**
         * Sets {@code attention_probs_dropout_prob}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder attentionProbsDropoutProb(double v) {
            attentionProbsDropoutProb = v;
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
         * Sets {@code num_labels}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder numLabels(int v) {
            numLabels = v;
            return this;
        }

        /**
         * Sets {@code add_pooling_layer}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder addPoolingLayer(boolean v) {
            addPoolingLayer = v;
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
        public BertConfig build() {
            return new BertConfig(this);
        }
    }
}
