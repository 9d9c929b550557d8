package io.peft4j.models;

import io.peft4j.core.config.ConfigKey;
import io.peft4j.core.config.ConfigValues;
import java.util.List;
import java.util.Set;

/**
 * Immutable settings of {@link Generator}: greedy decoding by default; sampling with temperature,
 * top-k and top-p (nucleus) filtering and a seed when {@link Builder#sample(boolean)} is set.
 */
public final class GenerationConfig {

    // Each setting declared once with its default and its check (made when the config is built).
    private static final ConfigKey<Integer> MAX_NEW_TOKENS =
            ConfigKey.positiveInt("maxNewTokens", 32);
    private static final ConfigKey<Boolean> SAMPLE = ConfigKey.internal("sample", false);
    private static final ConfigKey<Double> TEMPERATURE =
            ConfigKey.internal("temperature", 1.0)
                    .check(v -> v > 0, "temperature must be > 0, got %s");
    private static final ConfigKey<Integer> TOP_K =
            ConfigKey.internal("top_k", 0)
                    .check(k -> k >= 0, "topK must be >= 0 (0 = off), got %s");
    private static final ConfigKey<Double> TOP_P =
            ConfigKey.internal("top_p", 1.0)
                    .check(p -> p > 0 && p <= 1, "topP must be in (0, 1], got %s");
    private static final ConfigKey<Long> SEED = ConfigKey.internal("seed", 0L);
    private static final ConfigKey<Set<Integer>> EOS_TOKEN_IDS =
            ConfigKey.<Set<Integer>>internal("eos_token_ids", Set.of());
    private static final ConfigKey<Integer> PAD_TOKEN_ID =
            ConfigKey.internal("pad_token_id", 0)
                    .check(p -> p >= 0, "padTokenId must be >= 0, got %s");

    private static final ConfigValues DEFAULTS =
            ConfigValues.defaults(
                    MAX_NEW_TOKENS,
                    SAMPLE,
                    TEMPERATURE,
                    TOP_K,
                    TOP_P,
                    SEED,
                    EOS_TOKEN_IDS,
                    PAD_TOKEN_ID);

    private final ConfigValues values;

    private GenerationConfig(Builder b) {
        this.values = b.own.build();
    }

    /**
     * @return a builder: greedy, 32 new tokens, no EOS, pad id 0
     */
    public static Builder builder() {
        return new Builder(DEFAULTS.toBuilder());
    }

    /**
     * @return the most tokens to generate per sequence
     */
    public int maxNewTokens() {
        return values.get(MAX_NEW_TOKENS);
    }

    /**
     * @return whether to sample (false: greedy argmax)
     */
    public boolean sample() {
        return values.get(SAMPLE);
    }

    /**
     * @return logits are divided by this before sampling
     */
    public double temperature() {
        return values.get(TEMPERATURE);
    }

    /**
     * @return keep only the k most likely tokens when sampling (0 = all)
     */
    public int topK() {
        return values.get(TOP_K);
    }

    /**
     * @return keep the smallest set of most likely tokens whose probability reaches p
     */
    public double topP() {
        return values.get(TOP_P);
    }

    /**
     * @return seed of the sampling random generator
     */
    public long seed() {
        return values.get(SEED);
    }

    /**
     * @return a sequence stops after producing one of these
     */
    public Set<Integer> eosTokenIds() {
        return values.get(EOS_TOKEN_IDS);
    }

    /**
     * @return id fed for padding and for finished sequences
     */
    public int padTokenId() {
        return values.get(PAD_TOKEN_ID);
    }

    /** Builder of {@link GenerationConfig}. */
    public static final class Builder {
        private final ConfigValues.Builder own;

        private Builder(ConfigValues.Builder own) {
            this.own = own;
        }

        /**
         * Sets how many tokens to add at most to each prompt.
         *
         * @param v the most tokens to add to each prompt
         * @return this builder
         */
        public Builder maxNewTokens(int v) {
            own.put(MAX_NEW_TOKENS, v);
            return this;
        }

        /**
         * Sets sampling (true) or greedy decoding (false).
         *
         * @param v whether to sample (else greedy)
         * @return this builder
         */
        public Builder sample(boolean v) {
            own.put(SAMPLE, v);
            return this;
        }

        /**
         * Sets the softmax temperature of sampling.
         *
         * @param v the softmax temperature (&gt; 0)
         * @return this builder
         */
        public Builder temperature(double v) {
            own.put(TEMPERATURE, v);
            return this;
        }

        /**
         * Sets top-k filtering of sampling.
         *
         * @param v keep only the k most likely tokens (0: off)
         * @return this builder
         */
        public Builder topK(int v) {
            own.put(TOP_K, v);
            return this;
        }

        /**
         * Sets nucleus (top-p) filtering of sampling.
         *
         * @param v nucleus sampling threshold in (0, 1]
         * @return this builder
         */
        public Builder topP(double v) {
            own.put(TOP_P, v);
            return this;
        }

        /**
         * Sets the sampling seed.
         *
         * @param v the seed of sampling
         * @return this builder
         */
        public Builder seed(long v) {
            own.put(SEED, v);
            return this;
        }

        /**
         * Sets the end-of-sequence token ids.
         *
         * @param v the token ids that end a row
         * @return this builder
         */
        public Builder eosTokenIds(Iterable<Integer> v) {
            own.put(EOS_TOKEN_IDS, Set.copyOf(toList(v)));
            return this;
        }

        /**
         * Sets the padding id.
         *
         * @param v the id used for left padding
         * @return this builder
         */
        public Builder padTokenId(int v) {
            own.put(PAD_TOKEN_ID, v);
            return this;
        }

        private static List<Integer> toList(Iterable<Integer> v) {
            List<Integer> out = new java.util.ArrayList<>();
            v.forEach(out::add);
            return out;
        }

        /**
         * @return the validated configuration
         */
        public GenerationConfig build() {
            return new GenerationConfig(this);
        }
    }
}
