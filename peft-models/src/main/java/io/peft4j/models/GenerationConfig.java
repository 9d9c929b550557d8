package io.peft4j.models;

import com.google.common.base.Preconditions;
import java.util.List;
import java.util.Set;

/**
 * Immutable settings of {@link Generator}: greedy decoding by default; sampling with temperature,
 * top-k and top-p (nucleus) filtering and a seed when {@link Builder#sample(boolean)} is set.
 */
public final class GenerationConfig {

    private final int maxNewTokens;
    private final boolean sample;
    private final double temperature;
    private final int topK;
    private final double topP;
    private final long seed;
    private final Set<Integer> eosTokenIds;
    private final int padTokenId;

    private GenerationConfig(Builder b) {
        Preconditions.checkArgument(
                b.maxNewTokens > 0, "maxNewTokens must be > 0, got %s", b.maxNewTokens);
        Preconditions.checkArgument(
                b.temperature > 0, "temperature must be > 0, got %s", b.temperature);
        Preconditions.checkArgument(b.topK >= 0, "topK must be >= 0 (0 = off), got %s", b.topK);
        Preconditions.checkArgument(
                b.topP > 0 && b.topP <= 1, "topP must be in (0, 1], got %s", b.topP);
        Preconditions.checkArgument(
                b.padTokenId >= 0, "padTokenId must be >= 0, got %s", b.padTokenId);
        maxNewTokens = b.maxNewTokens;
        sample = b.sample;
        temperature = b.temperature;
        topK = b.topK;
        topP = b.topP;
        seed = b.seed;
        eosTokenIds = Set.copyOf(b.eosTokenIds);
        padTokenId = b.padTokenId;
    }

    /**
     * @return a builder: greedy, 32 new tokens, no EOS, pad id 0
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * @return the most tokens to generate per sequence
     */
    public int maxNewTokens() {
        return maxNewTokens;
    }

    /**
     * @return whether to sample (false: greedy argmax)
     */
    public boolean sample() {
        return sample;
    }

    /**
     * @return logits are divided by this before sampling
     */
    public double temperature() {
        return temperature;
    }

    /**
     * @return keep only the k most likely tokens when sampling (0 = all)
     */
    public int topK() {
        return topK;
    }

    /**
     * @return keep the smallest set of most likely tokens whose probability reaches p
     */
    public double topP() {
        return topP;
    }

    /**
     * @return seed of the sampling random generator
     */
    public long seed() {
        return seed;
    }

    /**
     * @return a sequence stops after producing one of these
     */
    public Set<Integer> eosTokenIds() {
        return eosTokenIds;
    }

    /**
     * @return id fed for padding and for finished sequences
     */
    public int padTokenId() {
        return padTokenId;
    }

    /** Builder of {@link GenerationConfig}. */
    public static final class Builder {
        private int maxNewTokens = 32;
        private boolean sample;
        private double temperature = 1.0;
        private int topK;
        private double topP = 1.0;
        private long seed;
        private Set<Integer> eosTokenIds = Set.of();
        private int padTokenId;

        private Builder() {}

        /**
         * Sets how many tokens to add at most to each prompt.
         *
         * @param v the most tokens to add to each prompt
         * @return this builder
         */
        public Builder maxNewTokens(int v) {
            maxNewTokens = v;
            return this;
        }

        /**
         * Sets sampling (true) or greedy decoding (false).
         *
         * @param v whether to sample (else greedy)
         * @return this builder
         */
        public Builder sample(boolean v) {
            sample = v;
            return this;
        }

        /**
         * Sets the softmax temperature of sampling.
         *
         * @param v the softmax temperature (&gt; 0)
         * @return this builder
         */
        public Builder temperature(double v) {
            temperature = v;
            return this;
        }

        /**
         * Sets top-k filtering of sampling.
         *
         * @param v keep only the k most likely tokens (0: off)
         * @return this builder
         */
        public Builder topK(int v) {
            topK = v;
            return this;
        }

        /**
         * Sets nucleus (top-p) filtering of sampling.
         *
         * @param v nucleus sampling threshold in (0, 1]
         * @return this builder
         */
        public Builder topP(double v) {
            topP = v;
            return this;
        }

        /**
         * Sets the sampling seed.
         *
         * @param v the seed of sampling
         * @return this builder
         */
        public Builder seed(long v) {
            seed = v;
            return this;
        }

        /**
         * Sets the end-of-sequence token ids.
         *
         * @param v the token ids that end a row
         * @return this builder
         */
        public Builder eosTokenIds(Iterable<Integer> v) {
            eosTokenIds = Set.copyOf(toList(v));
            return this;
        }

        /**
         * Sets the padding id.
         *
         * @param v the id used for left padding
         * @return this builder
         */
        public Builder padTokenId(int v) {
            padTokenId = v;
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
