package io.peft4j.core.spi;

import io.peft4j.core.config.ConfigKey;
import io.peft4j.core.config.ConfigValues;
import java.util.Objects;

/**
 * A targeted config with peft's low-rank options {@code r}, {@code lora_alpha} and {@code
 * lora_dropout} (LoRA and the methods built on it): the three settings, their checks and their
 * getters and setters held once here; each method gives its defaults ({@link Keys#of}).
 */
public abstract class LowRankConfig extends TargetedConfig {

    /**
     * The three settings of one method: its defaults and its name in their messages.
     *
     * @param rank {@code r}, &gt; 0
     * @param alpha {@code lora_alpha}, finite; written as an int when whole, as peft does
     * @param dropout {@code lora_dropout}, in [0, 1)
     */
    public record Keys(ConfigKey<Integer> rank, ConfigKey<Float> alpha, ConfigKey<Float> dropout) {

        /**
         * The settings with {@code method}'s defaults.
         *
         * @param method the method's name in messages, e.g. {@code LoRA}
         * @param rank the default {@code r}
         * @param alpha the default {@code lora_alpha}
         * @param dropout the default {@code lora_dropout}
         * @return the keys
         */
        public static Keys of(String method, int rank, float alpha, float dropout) {
            return new Keys(
                    ConfigKey.ofInt("r", rank)
                            .check(r -> r > 0, method + " rank r must be > 0, got %s"),
                    ConfigKey.of(
                                    "lora_alpha",
                                    alpha,
                                    ConfigJson::floatValue,
                                    ConfigJson::wholeOrFloat)
                            .check(Float::isFinite, method + " lora_alpha must be finite, got %s"),
                    ConfigKey.ofFloat("lora_dropout", dropout)
                            .check(
                                    d -> d >= 0 && d < 1,
                                    method + " lora_dropout must be in [0, 1), got %s"));
        }

        /**
         * The defaults of these three settings followed by {@code more}: a method's {@link
         * ConfigValues} in one list.
         *
         * @param more the method's other settings
         * @return the default values
         */
        public ConfigValues defaultsWith(ConfigKey<?>... more) {
            ConfigKey<?>[] all = new ConfigKey<?>[more.length + 3];
            all[0] = rank;
            all[1] = alpha;
            all[2] = dropout;
            System.arraycopy(more, 0, all, 3, more.length);
            return ConfigValues.defaults(all);
        }
    }

    private final Keys keys;

    /**
     * Takes the common settings and the method's values from {@code b}.
     *
     * @param peftType the method's {@code peft_type}
     * @param b the builder
     */
    protected LowRankConfig(String peftType, Builder<?> b) {
        super(peftType, b);
        this.keys = b.keys;
    }

    /** {@return the rank {@code r}} */
    public final int rank() {
        return value(keys.rank());
    }

    /** {@return {@code lora_alpha}} */
    public final float alpha() {
        return value(keys.alpha());
    }

    /** {@return {@code lora_dropout}, applied to the adapter's input in training} */
    public final float dropout() {
        return value(keys.dropout());
    }

    /**
     * The builder of a {@link LowRankConfig}: the setters of the three settings.
     *
     * @param <B> the method's builder type
     */
    public abstract static class Builder<B extends Builder<B>> extends TargetedConfigBuilder<B> {
        private final Keys keys;

        /**
         * A builder starting from {@code defaults}, which hold {@code keys}' settings.
         *
         * @param keys the method's three settings
         * @param defaults the method's settings at their defaults ({@link Keys#defaultsWith})
         */
        protected Builder(Keys keys, ConfigValues defaults) {
            super(defaults);
            this.keys = Objects.requireNonNull(keys, "keys");
        }

        /**
         * A builder holding {@code config}'s values (for its {@code toBuilder}).
         *
         * @param config the config to copy
         */
        protected Builder(LowRankConfig config) {
            super(config);
            this.keys = config.keys;
        }

        /**
         * The rank {@code r} (&gt; 0).
         *
         * @param rank the rank
         * @return this builder
         * @throws IllegalArgumentException if {@code rank} is not &gt; 0
         */
        public B rank(int rank) {
            return set(keys.rank(), rank);
        }

        /**
         * {@code lora_alpha} (finite).
         *
         * @param alpha the alpha
         * @return this builder
         * @throws IllegalArgumentException if {@code alpha} is not finite
         */
        public B alpha(float alpha) {
            return set(keys.alpha(), alpha);
        }

        /**
         * {@code lora_dropout} in [0, 1).
         *
         * @param dropout the dropout probability
         * @return this builder
         * @throws IllegalArgumentException if {@code dropout} is outside [0, 1)
         */
        public B dropout(float dropout) {
            return set(keys.dropout(), dropout);
        }
    }
}
