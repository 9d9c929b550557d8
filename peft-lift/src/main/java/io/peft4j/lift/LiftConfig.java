package io.peft4j.lift;

import static io.peft4j.core.spi.ConfigJson.has;

import com.google.common.base.Preconditions;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import io.peft4j.core.config.ConfigKey;
import io.peft4j.core.config.ConfigValues;
import io.peft4j.core.spi.ConfigJson;
import io.peft4j.core.spi.TargetedConfig;
import io.peft4j.core.spi.TargetedConfigBuilder;
import io.peft4j.core.target.TargetSpec;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * LIFT's configuration (Low-rank Informed sparse Fine-Tuning, Liu et al. 2025; official code {@code
 * zihanghliu/LIFT}). For every target weight {@code W} (m, n) the adapter fine-tunes only the
 * {@code k} entries of largest {@code |W'|}, where {@code W'} is the rank-{@code R} approximation
 * of {@code W}; {@code k = min((m + n) r, m n)} (the count of a rank-{@code r} LoRA) or {@code
 * round(density * m n)}. The mask is recomputed from the current weight every {@code T} optimiser
 * steps by {@link LiftOptimizer}, which also holds the Adam betas and eps.
 *
 * <p>Defaults follow the paper scaled to small models: targets all-linear (every {@code Linear} but
 * the output head), r 8, R 8, T 200, betas (0.9, 0.95), eps 1e-6, seed 0, mask selection largest,
 * exact rank-R approximation up to min(m, n) = 512. {@code filterRank(0)} turns the rank reduction
 * off (plain magnitude selection).
 */
public final class LiftConfig extends TargetedConfig {

    /** The {@code peft_type} of LIFT. */
    public static final String PEFT_TYPE = "LIFT";

    /**
     * Default of {@link #exactSvdMaxDim()}: exact low-rank approximations up to min(m, n) = 512.
     * The exact path's JVM eigen-decomposition took 3.4 s at 512 and 23 s at 1024 per matrix on the
     * shared build machine (12.8x and 45x the randomized SVD; {@code ExactSvdCost}).
     */
    public static final int DEFAULT_EXACT_SVD_MAX_DIM = 512;

    // The method's own settings, each declared once: JSON key, default, check.
    private static final ConfigKey<Integer> RANK =
            ConfigKey.ofInt("r", 8).check(r -> r > 0, "LIFT budget rank r must be > 0, got %s");
    private static final ConfigKey<Double> DENSITY =
            ConfigKey.<Double>of(
                            "density",
                            null,
                            ConfigJson::doubleValue,
                            d -> d == null ? JsonNull.INSTANCE : new JsonPrimitive(d))
                    .check(
                            d -> d == null || (d > 0 && d <= 1),
                            "LIFT density must be in (0, 1], got %s");
    private static final ConfigKey<Integer> FILTER_RANK =
            ConfigKey.ofInt("filter_rank", 8)
                    .check(
                            r -> r >= 0,
                            "LIFT filter_rank R must be >= 0 (0 = plain magnitude), got %s");
    private static final ConfigKey<Integer> UPDATE_INTERVAL =
            ConfigKey.ofInt("update_interval", 200)
                    .check(
                            t -> t >= 0,
                            "LIFT update_interval T must be >= 0 (0 = never refresh), got %s");
    // Written as one pair; read by fromJson through Builder#betas, which checks each.
    private static final ConfigKey<List<Double>> BETAS =
            ConfigKey.of("betas", List.of(0.9, 0.95), null, LiftConfig::betasJson);
    private static final ConfigKey<Double> EPS =
            ConfigKey.ofDouble("eps", 1e-6)
                    .check(
                            e -> Double.isFinite(e) && e > 0,
                            "LIFT eps must be finite and > 0, got %s");
    private static final ConfigKey<Long> SEED = ConfigKey.ofLong("seed", 0);
    private static final ConfigKey<Integer> SVD_OVERSAMPLE =
            ConfigKey.ofInt("svd_oversample", 8)
                    .check(n -> n >= 0, "LIFT svd_oversample must be >= 0, got %s");
    private static final ConfigKey<Integer> SVD_ITERATIONS =
            ConfigKey.ofInt("svd_iterations", 2)
                    .check(
                            n -> n >= 0 && n <= 10,
                            "LIFT svd_iterations must be in [0, 10], got %s");
    private static final ConfigKey<MaskSelection> MASK_SELECTION =
            ConfigKey.ofText(
                            "mask_selection",
                            MaskSelection.LARGEST,
                            MaskSelection::fromJson,
                            MaskSelection::jsonName)
                    .nonNull("LIFT mask_selection must be largest or smallest, got null");
    private static final ConfigKey<Integer> EXACT_SVD_MAX_DIM =
            ConfigKey.ofInt("exact_svd_max_dim", DEFAULT_EXACT_SVD_MAX_DIM)
                    .check(
                            n -> n >= 0,
                            "LIFT exact_svd_max_dim must be >= 0 (0 = always randomized), got %s");

    private static final ConfigValues DEFAULTS =
            ConfigValues.defaults(
                    RANK,
                    DENSITY,
                    FILTER_RANK,
                    UPDATE_INTERVAL,
                    BETAS,
                    EPS,
                    SEED,
                    SVD_OVERSAMPLE,
                    SVD_ITERATIONS,
                    MASK_SELECTION,
                    EXACT_SVD_MAX_DIM);

    // package-private: the method entry offers these keys to tools (--set)
    static final Set<String> KNOWN = ConfigJson.targetedKeys(DEFAULTS.jsonKeys());

    private LiftConfig(Builder b) {
        super(PEFT_TYPE, b);
    }

    /**
     * {@return a builder with the defaults (all-linear, r 8, R 8, T 200, betas (0.9, 0.95), eps
     * 1e-6)}
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The budget rank {@code r}: {@code k = min((m + n) r, m n)} entries per matrix (unless a
     * density is set).
     *
     * @return the budget rank
     */
    public int rank() {
        return value(RANK);
    }

    /** {@return the fraction of entries trained per matrix, when set instead of {@link #rank()}} */
    public Double density() {
        return value(DENSITY);
    }

    /**
     * {@return the rank {@code R} of the approximation the mask is chosen from; 0 = none (plain
     * magnitude)}
     */
    public int filterRank() {
        return value(FILTER_RANK);
    }

    /** {@return optimiser steps between mask refreshes ({@code T}); 0 = never refresh} */
    public int updateInterval() {
        return value(UPDATE_INTERVAL);
    }

    /** {@return Adam's first-moment decay} */
    public double beta1() {
        return value(BETAS).get(0);
    }

    /** {@return Adam's second-moment decay} */
    public double beta2() {
        return value(BETAS).get(1);
    }

    /** {@return Adam's eps (added to {@code sqrt(v)})} */
    public double eps() {
        return value(EPS);
    }

    /** {@return seed of the randomized SVD's test matrices} */
    public long seed() {
        return value(SEED);
    }

    /** {@return extra random directions of the randomized SVD} */
    public int svdOversample() {
        return value(SVD_OVERSAMPLE);
    }

    /** {@return power iterations of the randomized SVD} */
    public int svdIterations() {
        return value(SVD_ITERATIONS);
    }

    /**
     * {@return which end of {@code |W'|} is trained: largest (the paper, default) or smallest (the
     * released configs)}
     */
    public MaskSelection maskSelection() {
        return value(MASK_SELECTION);
    }

    /**
     * The largest {@code min(m, n)} for which the rank-R approximation is exact ({@link
     * io.peft4j.core.linalg.ExactLowRank}, as the reference's {@code torch.svd}); larger matrices
     * use the randomized SVD. 0 = always randomized.
     *
     * @return the threshold on {@code min(m, n)}
     */
    public int exactSvdMaxDim() {
        return value(EXACT_SVD_MAX_DIM);
    }

    /**
     * The number of entries trained in an (m, n) matrix: {@code round(density m n)} (at least 1)
     * when a density is set, else {@code min((m + n) r, m n)}.
     *
     * @param m rows of the matrix
     * @param n columns of the matrix
     * @return the number of trained entries
     */
    public long budget(long m, long n) {
        long total = m * n;
        Double density = density();
        if (density != null) {
            return Math.max(1, Math.min(total, Math.round(density * total)));
        }
        return Math.min((m + n) * rank(), total);
    }

    @Override
    public JsonObject toJson() {
        JsonObject j = new JsonObject();
        JsonObject out = sortedJson(j);
        ConfigJson.writeModulesToSave(out, modulesToSave());
        return out;
    }

    private static JsonArray betasJson(List<Double> betas) {
        JsonArray a = new JsonArray();
        betas.forEach(a::add);
        return a;
    }

    /**
     * Reads {@code adapter_config.json}. Unknown keys are reported to {@code warnings} and ignored;
     * {@code r} and {@code target_modules} are required.
     *
     * @param j the parsed {@code adapter_config.json}
     * @param warnings receives one message per ignored key
     * @return the config
     */
    public static LiftConfig fromJson(JsonObject j, Consumer<String> warnings) {
        Builder b = builder();
        ConfigJson.require(j, "LIFT", "r", "target_modules");
        if (has(j, "betas")) {
            JsonElement betas = j.get("betas");
            if (!betas.isJsonArray() || betas.getAsJsonArray().size() != 2) {
                throw new IllegalArgumentException("\"betas\" must hold two numbers, got " + betas);
            }
            JsonArray a = betas.getAsJsonArray();
            b.betas(
                    ConfigJson.doubleValue(a.get(0), "betas[0]"),
                    ConfigJson.doubleValue(a.get(1), "betas[1]"));
        }
        ConfigJson.read(j, b);
        ConfigJson.warnUnknown(j, KNOWN, "LIFT", warnings);
        return b.build();
    }

    /** Builder of {@link LiftConfig}; every setter checks its argument. */
    public static final class Builder extends TargetedConfigBuilder<Builder> {
        private Builder() {
            // LIFT's default: every linear layer but the head
            super(DEFAULTS, TargetSpec.Builder::allLinear);
        }

        /**
         * Budget rank {@code r} (> 0): {@code k = min((m + n) r, m n)} entries per matrix.
         *
         * @param rank budget rank {@code r} (> 0): {@code k = min((m + n) r, m n)} entries per
         *     matrix
         * @return this builder
         */
        public Builder rank(int rank) {
            return set(RANK, rank);
        }

        /**
         * Trains {@code round(density m n)} entries per matrix instead of the rank budget; {@code
         * null} goes back to the rank budget.
         *
         * @param density trains {@code round(density m n)} entries per matrix instead of the rank
         *     budget; {@code null} goes back to the rank budget
         * @return this builder
         */
        public Builder density(Double density) {
            return set(DENSITY, density);
        }

        /**
         * The approximation rank {@code R} (>= 0; 0 = no rank reduction, plain magnitude).
         *
         * @param filterRank the approximation rank {@code R} (>= 0; 0 = no rank reduction, plain
         *     magnitude)
         * @return this builder
         */
        public Builder filterRank(int filterRank) {
            return set(FILTER_RANK, filterRank);
        }

        /**
         * Optimiser steps between mask refreshes {@code T} (>= 0; 0 = never).
         *
         * @param steps optimiser steps between mask refreshes {@code T} (>= 0; 0 = never)
         * @return this builder
         */
        public Builder updateInterval(int steps) {
            return set(UPDATE_INTERVAL, steps);
        }

        /**
         * Adam's betas, each in [0, 1).
         *
         * @param beta1 the first-moment decay
         * @param beta2 the second-moment decay
         * @return this builder
         */
        public Builder betas(double beta1, double beta2) {
            Preconditions.checkArgument(
                    beta1 >= 0 && beta1 < 1, "LIFT beta1 must be in [0, 1), got %s", beta1);
            Preconditions.checkArgument(
                    beta2 >= 0 && beta2 < 1, "LIFT beta2 must be in [0, 1), got %s", beta2);
            return set(BETAS, List.of(beta1, beta2));
        }

        /**
         * Adam's eps (finite, > 0).
         *
         * @param eps Adam's eps (finite, > 0)
         * @return this builder
         */
        public Builder eps(double eps) {
            return set(EPS, eps);
        }

        /**
         * Seed of the randomized SVD.
         *
         * @param seed seed of the randomized SVD
         * @return this builder
         */
        public Builder seed(long seed) {
            return set(SEED, seed);
        }

        /**
         * Oversampling of the randomized SVD (>= 0).
         *
         * @param n oversampling of the randomized SVD (>= 0)
         * @return this builder
         */
        public Builder svdOversample(int n) {
            return set(SVD_OVERSAMPLE, n);
        }

        /**
         * Power iterations of the randomized SVD (0 to 10).
         *
         * @param n power iterations of the randomized SVD (0 to 10)
         * @return this builder
         */
        public Builder svdIterations(int n) {
            return set(SVD_ITERATIONS, n);
        }

        /**
         * Which end of {@code |W'|} to train (default largest, the paper's rule).
         *
         * @param selection largest or smallest
         * @return this builder
         */
        public Builder maskSelection(MaskSelection selection) {
            return set(MASK_SELECTION, selection);
        }

        /**
         * Exact rank-R approximation for matrices with {@code min(m, n) <=} this (>= 0; 0 = always
         * the randomized SVD). The exact path costs an {@code O(min(m, n)^3)} eigen-decomposition
         * on the JVM.
         *
         * @param maxDim the largest {@code min(m, n)} given the exact approximation
         * @return this builder
         */
        public Builder exactSvdMaxDim(int maxDim) {
            return set(EXACT_SVD_MAX_DIM, maxDim);
        }

        /**
         * Builds the config.
         *
         * @return the config
         */
        public LiftConfig build() {
            return new LiftConfig(this);
        }
    }
}
