package io.peft4j.mos;

import com.google.common.base.Preconditions;
import com.google.gson.JsonObject;
import io.peft4j.core.config.ConfigKey;
import io.peft4j.core.config.ConfigValues;
import io.peft4j.core.spi.ConfigJson;
import io.peft4j.core.spi.LowRankConfig;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Mixture of Shards (Wang et al., repo {@code Forence1999/MoS}): LoRA whose low-rank factors are
 * assembled, per layer, from shards of one global pool per projection type.
 *
 * <ul>
 *   <li>{@code v} ({@link #equivalentRank()}): the budget. Each projection type trains {@code v L
 *       (in + out)} numbers, exactly what a rank-{@code v} LoRA over its {@code L} layers trains.
 *   <li>{@code r} ({@link #rank()}): the rank each layer's {@code A_i}, {@code B_i} have in the
 *       forward pass; {@code r} may exceed {@code v}.
 *   <li>{@code l} ({@link #shardsPerVector()}): each rank vector is {@code l} concatenated shards.
 *   <li>{@code p} ({@link #privateRank()}): the last {@code p} rank vectors of each layer come from
 *       rows only that layer uses.
 * </ul>
 *
 * <p>Forward as LoRA, {@code y = W x + b + (alpha / r) B_i A_i dropout(x)}. The official code's
 * names: {@code valid_param_lora_r} = v, {@code lora_r} = r, {@code num_chunk_per_vec} = l, {@code
 * valid_param_private_r} = p. Defaults follow its runs where they exist (alpha 16, dropout 0.1); v
 * 8, r 16, l 2, p 1 are ours.
 */
public final class MosConfig extends LowRankConfig {

    /** The {@code peft_type} of MoS. */
    public static final String PEFT_TYPE = "MOS";

    // The method's own settings, each declared once: JSON key, default, check.
    private static final Keys LOW_RANK = Keys.of("MoS", 16, 16, 0.1f);
    private static final ConfigKey<Integer> EQUIVALENT_RANK =
            ConfigKey.ofInt("equivalent_rank", 8)
                    .check(v -> v > 0, "MoS equivalent rank v must be > 0, got %s");
    private static final ConfigKey<Integer> SHARDS_PER_VECTOR =
            ConfigKey.ofInt("shards_per_vector", 2)
                    .check(l -> l > 0, "MoS shards per vector l must be > 0, got %s");
    private static final ConfigKey<Integer> PRIVATE_RANK =
            ConfigKey.ofInt("private_rank", 1)
                    .check(p -> p >= 0, "MoS private rank p must be >= 0, got %s");
    private static final ConfigKey<Long> SEED = ConfigKey.ofLong("seed", 0);

    private static final ConfigValues DEFAULTS =
            LOW_RANK.defaultsWith(EQUIVALENT_RANK, SHARDS_PER_VECTOR, PRIVATE_RANK, SEED);

    // package-private: the method entry offers these keys to tools (--set)
    static final Set<String> KNOWN =
            ConfigJson.targetedKeys(DEFAULTS.jsonKeys(), "bias", "revision");

    private MosConfig(Builder b) {
        super(PEFT_TYPE, b);
    }

    /** {@return a builder with the defaults (targets must be set)} */
    public static Builder builder() {
        return new Builder();
    }

    /** {@return a builder holding this config's values} */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** {@return {@code v}: the equivalent LoRA rank (the parameter budget per layer)} */
    public int equivalentRank() {
        return value(EQUIVALENT_RANK);
    }

    /** {@return {@code l}: shards per rank vector} */
    public int shardsPerVector() {
        return value(SHARDS_PER_VECTOR);
    }

    /** {@return {@code p}: private rank vectors per layer} */
    public int privateRank() {
        return value(PRIVATE_RANK);
    }

    /** {@return seed of the pool initialization and of the index tables} */
    public long seed() {
        return value(SEED);
    }

    /** {@return the scale {@code s = alpha / r}} */
    public float scaling() {
        return alpha() / rank();
    }

    /**
     * Checks the constraint that needs the number of layers {@code L} of a projection type: {@code
     * r - p <= (v - p) L} (subset selection draws {@code r - p} public vectors without repeats from
     * {@code (v - p) L}).
     *
     * @throws IllegalArgumentException naming the group, the numbers and how to fix them
     */
    void checkLayers(String group, int layers) {
        int rank = rank();
        int privateRank = privateRank();
        int equivalentRank = equivalentRank();
        long needed = (long) rank - privateRank;
        long available = (long) (equivalentRank - privateRank) * layers;
        if (needed > available) {
            throw new IllegalArgumentException(
                    "MoS for '"
                            + group
                            + "': r - p = "
                            + rank
                            + " - "
                            + privateRank
                            + " = "
                            + needed
                            + " public rank vectors per layer, but the pool holds only (v - p) * L = ("
                            + equivalentRank
                            + " - "
                            + privateRank
                            + ") * "
                            + layers
                            + " = "
                            + available
                            + "; lower r or raise v (or target more layers of this type)");
        }
    }

    @Override
    public JsonObject toJson() {
        JsonObject j = new JsonObject();
        j.addProperty("bias", "none");
        JsonObject out = sortedJson(j);
        ConfigJson.writeModulesToSave(out, modulesToSave());
        return out;
    }

    /**
     * Reads {@code adapter_config.json}. Unknown keys are reported to {@code warnings} and ignored.
     *
     * @param j the parsed {@code adapter_config.json}
     * @param warnings receives one message per ignored key
     * @return the config
     * @throws IllegalArgumentException naming a missing key or a bad value
     */
    public static MosConfig fromJson(JsonObject j, Consumer<String> warnings) {
        return read(j, warnings).build();
    }

    private static Builder read(JsonObject j, Consumer<String> warnings) {
        ConfigJson.require(
                j,
                "MoS",
                "r",
                "equivalent_rank",
                "shards_per_vector",
                "private_rank",
                "target_modules");
        Builder b = builder();
        ConfigJson.read(j, b);
        ConfigJson.requireOnly(j, "bias", "none", "MoS");
        ConfigJson.warnUnknown(j, KNOWN, "MoS", warnings);
        return b;
    }

    /** Builder of {@link MosConfig}; {@link #build()} checks the values against each other. */
    public static final class Builder extends LowRankConfig.Builder<Builder> {

        private Builder() {
            super(LOW_RANK, DEFAULTS);
        }

        private Builder(MosConfig config) {
            super(config);
        }

        /**
         * {@code v}, the equivalent LoRA rank (budget), > 0.
         *
         * @param v {@code v}, the equivalent LoRA rank (budget), > 0
         * @return this builder
         */
        public Builder equivalentRank(int v) {
            return set(EQUIVALENT_RANK, v);
        }

        /**
         * {@code l}, shards per rank vector, > 0 (in and out features must be divisible by it).
         *
         * @param l {@code l}, shards per rank vector, > 0 (in and out features must be divisible by
         *     it)
         * @return this builder
         */
        public Builder shardsPerVector(int l) {
            return set(SHARDS_PER_VECTOR, l);
        }

        /**
         * {@code p}, private rank vectors per layer, >= 0, at most v and r.
         *
         * @param p {@code p}, private rank vectors per layer, >= 0, at most v and r
         * @return this builder
         */
        public Builder privateRank(int p) {
            return set(PRIVATE_RANK, p);
        }

        /**
         * Seed of pools and index tables.
         *
         * @param seed seed of pools and index tables
         * @return this builder
         */
        public Builder seed(long seed) {
            return set(SEED, seed);
        }

        /**
         * Builds the config.
         *
         * @return the config
         * @throws IllegalArgumentException when p &gt; v, p &gt; r, or p = v &lt; r (no public rows
         *     to draw from)
         */
        public MosConfig build() {
            MosConfig c = new MosConfig(this);
            Preconditions.checkArgument(
                    c.privateRank() <= c.equivalentRank(),
                    "MoS private rank p = %s exceeds the equivalent rank v = %s; expected p <= v",
                    c.privateRank(),
                    c.equivalentRank());
            Preconditions.checkArgument(
                    c.privateRank() <= c.rank(),
                    "MoS private rank p = %s exceeds the rank r = %s; expected p <= r",
                    c.privateRank(),
                    c.rank());
            Preconditions.checkArgument(
                    c.privateRank() < c.equivalentRank() || c.rank() == c.privateRank(),
                    "MoS with p = v = %s has no public rows, so r must equal p, got r = %s; lower r or p",
                    c.privateRank(),
                    c.rank());
            return c;
        }
    }
}
