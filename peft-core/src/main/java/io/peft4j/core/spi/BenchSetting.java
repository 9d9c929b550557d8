package io.peft4j.core.spi;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One setting a method is benchmarked with (the comparison harness runs every method's settings,
 * the per-method step harness each method's first): a key to select it by, a label for tables, the
 * common options and {@code key=value} overrides it is built from, which modules it targets, and
 * its learning rate relative to the harness's adapter rate. Immutable; made with {@link #builder}.
 */
public final class BenchSetting {

    /**
     * Which modules a setting adapts. A harness names the modules of each architecture; the method
     * only says which kind.
     */
    public enum Targets {
        /**
         * The harness's usual adapter targets for the task (attention query and value on an
         * encoder; on a causal LM, whatever the harness trains adapters on).
         */
        ADAPTER,
        /** The attention query, key and value projections. */
        ATTENTION,
        /** Every linear layer but the output head ({@code all-linear}). */
        ALL_LINEAR,
        /** None named: the method chooses its own modules (e.g. ShadowPEFT's side network). */
        NONE
    }

    private final String key;
    private final String label;
    private final Targets targets;
    private final int rank;
    private final float alpha;
    private final Map<String, String> overrides;
    private final Map<String, Double> learningRateScales;

    private BenchSetting(Builder b) {
        this.key = b.key;
        this.label = b.label;
        this.targets = b.targets;
        this.rank = b.rank;
        this.alpha = b.alpha;
        this.overrides = Collections.unmodifiableMap(new LinkedHashMap<>(b.overrides));
        this.learningRateScales =
                Collections.unmodifiableMap(new LinkedHashMap<>(b.learningRateScales));
    }

    /**
     * A builder for a setting selected by {@code key} and shown as {@code label}; rank 8, alpha 16,
     * {@link Targets#ADAPTER}, no overrides, the harness's learning rate.
     *
     * @param key the key a harness selects it by (e.g. {@code --methods lora}); unique across
     *     methods
     * @param label the setting's label in tables, e.g. {@code LoRA r=8}
     * @return the builder
     * @throws IllegalArgumentException if the key or label is blank
     */
    public static Builder builder(String key, String label) {
        return new Builder(key, label);
    }

    /** {@return the key a harness selects this setting by} */
    public String key() {
        return key;
    }

    /** {@return the label in tables} */
    public String label() {
        return label;
    }

    /** {@return which modules it adapts} */
    public Targets targets() {
        return targets;
    }

    /** {@return the common option {@code rank}} */
    public int rank() {
        return rank;
    }

    /** {@return the common option {@code alpha}} */
    public float alpha() {
        return alpha;
    }

    /** {@return the method's own {@code adapter_config.json} keys it sets, in order} */
    public Map<String, String> overrides() {
        return overrides;
    }

    /**
     * The factor on the harness's adapter learning rate for a task.
     *
     * @param taskType peft's {@code task_type}, e.g. {@code SEQ_CLS}
     * @return the factor; 1 unless the setting gives one for {@code taskType}
     */
    public double learningRateScale(String taskType) {
        return learningRateScales.getOrDefault(taskType, 1.0);
    }

    @Override
    public String toString() {
        return key + " (" + label + ")";
    }

    /** Builds a {@link BenchSetting}. */
    public static final class Builder {
        private final String key;
        private final String label;
        private Targets targets = Targets.ADAPTER;
        private int rank = 8;
        private float alpha = 16f;
        private final Map<String, String> overrides = new LinkedHashMap<>();
        private final Map<String, Double> learningRateScales = new LinkedHashMap<>();

        private Builder(String key, String label) {
            if (key == null || key.isBlank() || label == null || label.isBlank()) {
                throw new IllegalArgumentException(
                        "a bench setting needs a key and a label, got '"
                                + key
                                + "' / '"
                                + label
                                + "'");
            }
            this.key = key;
            this.label = label;
        }

        /**
         * Which modules the setting adapts.
         *
         * @param value the kind of targets
         * @return this builder
         */
        public Builder targets(Targets value) {
            this.targets = Objects.requireNonNull(value, "targets");
            return this;
        }

        /**
         * The common option {@code rank}.
         *
         * @param value the rank
         * @return this builder
         */
        public Builder rank(int value) {
            this.rank = value;
            return this;
        }

        /**
         * The common option {@code alpha}.
         *
         * @param value the alpha
         * @return this builder
         */
        public Builder alpha(float value) {
            this.alpha = value;
            return this;
        }

        /**
         * Sets one of the method's own {@code adapter_config.json} keys, as {@code --set key=value}
         * does.
         *
         * @param configKey the key
         * @param value the value (JSON when it parses as JSON, else a string)
         * @return this builder
         */
        public Builder set(String configKey, String value) {
            overrides.put(configKey, value);
            return this;
        }

        /**
         * The factor on the harness's adapter learning rate for one task type (e.g. 0.1 for full
         * fine-tuning of a classifier, which diverges at adapter rates).
         *
         * @param taskType peft's {@code task_type}, e.g. {@code SEQ_CLS}
         * @param scale a factor > 0
         * @return this builder
         * @throws IllegalArgumentException if {@code scale} is not a finite value > 0
         */
        public Builder learningRateScale(String taskType, double scale) {
            if (!(scale > 0) || Double.isInfinite(scale)) {
                throw new IllegalArgumentException(
                        "learning-rate scale for " + taskType + " must be > 0, got " + scale);
            }
            learningRateScales.put(taskType, scale);
            return this;
        }

        /**
         * The setting.
         *
         * @return the immutable setting
         */
        public BenchSetting build() {
            return new BenchSetting(this);
        }
    }
}
