package io.peft4j.models;

import io.peft4j.core.config.ConfigKey;
import io.peft4j.core.config.ConfigValues;
import io.peft4j.core.config.ValuesBackedConfig;
import java.util.Objects;

/**
 * The Hugging Face {@code config.json} settings that the encoder ({@link BertConfig}) and decoder
 * ({@link LlamaConfig}) configs share, by the same names: their getters and setters are held once
 * here. Each family declares the keys itself ({@link Keys}), since defaults and checks differ
 * (bert-base's vs LLaMA-7B's sizes; BERT checks hidden size against heads as a pair).
 */
public abstract sealed class TransformerConfig extends ValuesBackedConfig
        permits BertConfig, LlamaConfig {

    /** One family's keys of the shared settings. */
    record Keys(
            ConfigKey<Integer> vocabSize,
            ConfigKey<Integer> hiddenSize,
            ConfigKey<Integer> intermediateSize,
            ConfigKey<Integer> numHiddenLayers,
            ConfigKey<Integer> numAttentionHeads,
            ConfigKey<Integer> maxPositionEmbeddings,
            ConfigKey<Integer> padTokenId,
            ConfigKey<Double> initializerRange) {}

    private final Keys keys;
    private final ConfigValues values;

    TransformerConfig(Keys keys, ConfigValues values) {
        this.keys = Objects.requireNonNull(keys, "keys");
        this.values = Objects.requireNonNull(values, "values");
    }

    @Override
    protected final ConfigValues values() {
        return values;
    }

    /** {@return the vocabulary size ({@code vocab_size})} */
    public final int vocabSize() {
        return values.get(keys.vocabSize());
    }

    /** {@return the model width ({@code hidden_size})} */
    public final int hiddenSize() {
        return values.get(keys.hiddenSize());
    }

    /** {@return the feed-forward width ({@code intermediate_size})} */
    public final int intermediateSize() {
        return values.get(keys.intermediateSize());
    }

    /** {@return the number of layers ({@code num_hidden_layers})} */
    public final int numHiddenLayers() {
        return values.get(keys.numHiddenLayers());
    }

    /** {@return the number of attention (query) heads ({@code num_attention_heads})} */
    public final int numAttentionHeads() {
        return values.get(keys.numAttentionHeads());
    }

    /** {@return the number of positions ({@code max_position_embeddings})} */
    public final int maxPositionEmbeddings() {
        return values.get(keys.maxPositionEmbeddings());
    }

    /**
     * {@return the padding token id ({@code pad_token_id}); -1 from a LLaMA-family file that has
     * none}
     */
    public final int padTokenId() {
        return values.get(keys.padTokenId());
    }

    /**
     * {@return the standard deviation of the random normal weight initialisation ({@code
     * initializer_range})}
     */
    public final double initializerRange() {
        return values.get(keys.initializerRange());
    }

    /**
     * The setters of the shared settings; a family's builder adds its own. Each value is checked by
     * its key when the config is built.
     *
     * @param <B> the family's builder type
     */
    public abstract static sealed class Builder<B extends Builder<B>>
            permits BertConfig.Builder, LlamaConfig.Builder {

        /** The values set so far (the family's builder sets its own settings here too). */
        final ConfigValues.Builder own;

        private final Keys keys;

        Builder(Keys keys, ConfigValues.Builder own) {
            this.keys = Objects.requireNonNull(keys, "keys");
            this.own = Objects.requireNonNull(own, "own");
        }

        /** {@return this builder, as its own type} */
        abstract B self();

        /** Sets {@code key} to {@code v} and returns this builder. */
        final <T> B put(ConfigKey<T> key, T v) {
            own.put(key, v);
            return self();
        }

        /**
         * Sets {@code vocab_size}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public final B vocabSize(int v) {
            return put(keys.vocabSize(), v);
        }

        /**
         * Sets {@code hidden_size}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public final B hiddenSize(int v) {
            return put(keys.hiddenSize(), v);
        }

        /**
         * Sets {@code intermediate_size}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public final B intermediateSize(int v) {
            return put(keys.intermediateSize(), v);
        }

        /**
         * Sets {@code num_hidden_layers}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public final B numHiddenLayers(int v) {
            return put(keys.numHiddenLayers(), v);
        }

        /**
         * Sets {@code num_attention_heads}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public final B numAttentionHeads(int v) {
            return put(keys.numAttentionHeads(), v);
        }

        /**
         * Sets {@code max_position_embeddings}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public final B maxPositionEmbeddings(int v) {
            return put(keys.maxPositionEmbeddings(), v);
        }

        /**
         * Sets {@code pad_token_id}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public final B padTokenId(int v) {
            return put(keys.padTokenId(), v);
        }

        /**
         * Sets {@code initializer_range}, as in Hugging Face's {@code config.json}.
         *
         * @param v the value
         * @return this builder
         */
        public final B initializerRange(double v) {
            return put(keys.initializerRange(), v);
        }
    }
}
