package io.peft4j.lift;

import static io.peft4j.core.spi.ConfigJson.has;

import com.google.common.base.Preconditions;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import io.peft4j.core.spi.ConfigJson;
import io.peft4j.core.spi.TargetedConfig;
import io.peft4j.core.spi.TargetedConfigBuilder;
import io.peft4j.core.target.TargetSpec;
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

    // package-private: the method entry offers these keys to tools (--set)
    static final Set<String> KNOWN =
            ConfigJson.targetedKeys(
                    "r",
                    "density",
                    "filter_rank",
                    "update_interval",
                    "betas",
                    "eps",
                    "seed",
                    "svd_oversample",
                    "svd_iterations",
                    "mask_selection",
                    "exact_svd_max_dim");

    /**
     * Default of {@link #exactSvdMaxDim()}: exact low-rank approximations up to min(m, n) = 512.
     * The exact path's JVM eigen-decomposition took 3.4 s at 512 and 23 s at 1024 per matrix on the
     * shared build machine (12.8x and 45x the randomized SVD; {@code ExactSvdCost}).
     */
    public static final int DEFAULT_EXACT_SVD_MAX_DIM = 512;

    private final int rank;
    private final Double density;
    private final int filterRank;
    private final int updateInterval;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final long seed;
    private final int svdOversample;
    private final int svdIterations;
    private final MaskSelection maskSelection;
    private final int exactSvdMaxDim;

    private LiftConfig(Builder b) {
        super(b);
        this.rank = b.rank;
        this.density = b.density;
        this.filterRank = b.filterRank;
        this.updateInterval = b.updateInterval;
        this.beta1 = b.beta1;
        this.beta2 = b.beta2;
        this.eps = b.eps;
        this.seed = b.seed;
        this.svdOversample = b.svdOversample;
        this.svdIterations = b.svdIterations;
        this.maskSelection = b.maskSelection;
        this.exactSvdMaxDim = b.exactSvdMaxDim;
    }

    /**
     * {@return a builder with the defaults (all-linear, r 8, R 8, T 200, betas (0.9, 0.95), eps
     * 1e-6)}
     */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public String peftType() {
        return PEFT_TYPE;
    }

    /**
     * The budget rank {@code r}: {@code k = min((m + n) r, m n)} entries per matrix (unless a
     * density is set).
     *
     * @return the budget rank
     */
    public int rank() {
        return rank;
    }

    /** {@return the fraction of entries trained per matrix, when set instead of {@link #rank()}} */
    public Double density() {
        return density;
    }

    /**
     * {@return the rank {@code R} of the approximation the mask is chosen from; 0 = none (plain
     * magnitude)}
     */
    public int filterRank() {
        return filterRank;
    }

    /** {@return optimiser steps between mask refreshes ({@code T}); 0 = never refresh} */
    public int updateInterval() {
        return updateInterval;
    }

    /** {@return Adam's first-moment decay} */
    public double beta1() {
        return beta1;
    }

    /** {@return Adam's second-moment decay} */
    public double beta2() {
        return beta2;
    }

    /** {@return Adam's eps (added to {@code sqrt(v)})} */
    public double eps() {
        return eps;
    }

    /** {@return seed of the randomized SVD's test matrices} */
    public long seed() {
        return seed;
    }

    /** {@return extra random directions of the randomized SVD} */
    public int svdOversample() {
        return svdOversample;
    }

    /** {@return power iterations of the randomized SVD} */
    public int svdIterations() {
        return svdIterations;
    }

    /**
     * {@return which end of {@code |W'|} is trained: largest (the paper, default) or smallest (the
     * released configs)}
     */
    public MaskSelection maskSelection() {
        return maskSelection;
    }

    /**
     * The largest {@code min(m, n)} for which the rank-R approximation is exact ({@link
     * io.peft4j.core.linalg.ExactLowRank}, as the reference's {@code torch.svd}); larger matrices
     * use the randomized SVD. 0 = always randomized.
     *
     * @return the threshold on {@code min(m, n)}
     */
    public int exactSvdMaxDim() {
        return exactSvdMaxDim;
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
        if (density != null) {
            return Math.max(1, Math.min(total, Math.round(density * total)));
        }
        return Math.min((m + n) * rank, total);
    }

    @Override
    public JsonObject toJson() {
        JsonObject j = new JsonObject();
        JsonArray betas = new JsonArray();
        betas.add(beta1);
        betas.add(beta2);
        j.add("betas", betas);
        j.add("density", density == null ? JsonNull.INSTANCE : new JsonPrimitive(density));
        j.addProperty("eps", eps);
        j.addProperty("exact_svd_max_dim", exactSvdMaxDim);
        j.addProperty("filter_rank", filterRank);
        j.addProperty("mask_selection", maskSelection.jsonName());
        j.addProperty("r", rank);
        j.addProperty("seed", seed);
        j.addProperty("svd_iterations", svdIterations);
        j.addProperty("svd_oversample", svdOversample);
        j.addProperty("update_interval", updateInterval);
        JsonObject out = sortedJson(j);
        ConfigJson.writeModulesToSave(out, modulesToSave());
        return out;
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
        ConfigJson.readInt(j, "r", b::rank);
        ConfigJson.readDouble(j, "density", b::density);
        ConfigJson.readInt(j, "filter_rank", b::filterRank);
        ConfigJson.readInt(j, "update_interval", b::updateInterval);
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
        ConfigJson.readDouble(j, "eps", b::eps);
        ConfigJson.readLong(j, "seed", b::seed);
        ConfigJson.readInt(j, "svd_oversample", b::svdOversample);
        ConfigJson.readInt(j, "svd_iterations", b::svdIterations);
        ConfigJson.readString(j, "mask_selection", v -> b.maskSelection(MaskSelection.fromJson(v)));
        ConfigJson.readInt(j, "exact_svd_max_dim", b::exactSvdMaxDim);
        ConfigJson.read(j, b);
        ConfigJson.warnUnknown(j, KNOWN, "LIFT", warnings);
        return b.build();
    }

    /** Builder of {@link LiftConfig}; every setter checks its argument. */
    public static final class Builder extends TargetedConfigBuilder<Builder> {
        private int rank = 8;
        private Double density;
        private int filterRank = 8;
        private int updateInterval = 200;
        private double beta1 = 0.9;
        private double beta2 = 0.95;
        private double eps = 1e-6;
        private long seed;
        private int svdOversample = 8;
        private int svdIterations = 2;
        private MaskSelection maskSelection = MaskSelection.LARGEST;
        private int exactSvdMaxDim = DEFAULT_EXACT_SVD_MAX_DIM;

        private Builder() {
            super(TargetSpec.Builder::allLinear); // LIFT's default: every linear layer but the head
        }

        /**
         * Budget rank {@code r} (> 0): {@code k = min((m + n) r, m n)} entries per matrix.
         *
         * @param rank budget rank {@code r} (> 0): {@code k = min((m + n) r, m n)} entries per
         *     matrix
         * @return this builder
         */
        public Builder rank(int rank) {
            Preconditions.checkArgument(rank > 0, "LIFT budget rank r must be > 0, got %s", rank);
            this.rank = rank;
            return this;
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
            Preconditions.checkArgument(
                    density == null || (density > 0 && density <= 1),
                    "LIFT density must be in (0, 1], got %s",
                    density);
            this.density = density;
            return this;
        }

        /**
         * The approximation rank {@code R} (>= 0; 0 = no rank reduction, plain magnitude).
         *
         * @param filterRank the approximation rank {@code R} (>= 0; 0 = no rank reduction, plain
         *     magnitude)
         * @return this builder
         */
        public Builder filterRank(int filterRank) {
            Preconditions.checkArgument(
                    filterRank >= 0,
                    "LIFT filter_rank R must be >= 0 (0 = plain magnitude), got %s",
                    filterRank);
            this.filterRank = filterRank;
            return this;
        }

        /**
         * Optimiser steps between mask refreshes {@code T} (>= 0; 0 = never).
         *
         * @param steps optimiser steps between mask refreshes {@code T} (>= 0; 0 = never)
         * @return this builder
         */
        public Builder updateInterval(int steps) {
            Preconditions.checkArgument(
                    steps >= 0,
                    "LIFT update_interval T must be >= 0 (0 = never refresh), got %s",
                    steps);
            this.updateInterval = steps;
            return this;
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
            this.beta1 = beta1;
            this.beta2 = beta2;
            return this;
        }

        /**
         * Adam's eps (finite, > 0).
         *
         * @param eps Adam's eps (finite, > 0)
         * @return this builder
         */
        public Builder eps(double eps) {
            Preconditions.checkArgument(
                    Double.isFinite(eps) && eps > 0,
                    "LIFT eps must be finite and > 0, got %s",
                    eps);
            this.eps = eps;
            return this;
        }

        /**
         * Seed of the randomized SVD.
         *
         * @param seed seed of the randomized SVD
         * @return this builder
         */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /**
         * Oversampling of the randomized SVD (>= 0).
         *
         * @param n oversampling of the randomized SVD (>= 0)
         * @return this builder
         */
        public Builder svdOversample(int n) {
            Preconditions.checkArgument(n >= 0, "LIFT svd_oversample must be >= 0, got %s", n);
            this.svdOversample = n;
            return this;
        }

        /**
         * Power iterations of the randomized SVD (0 to 10).
         *
         * @param n power iterations of the randomized SVD (0 to 10)
         * @return this builder
         */
        public Builder svdIterations(int n) {
            Preconditions.checkArgument(
                    n >= 0 && n <= 10, "LIFT svd_iterations must be in [0, 10], got %s", n);
            this.svdIterations = n;
            return this;
        }

        /**
         * Which end of {@code |W'|} to train (default largest, the paper's rule).
         *
         * @param selection largest or smallest
         * @return this builder
         */
        public Builder maskSelection(MaskSelection selection) {
            Preconditions.checkArgument(
                    selection != null, "LIFT mask_selection must be largest or smallest, got null");
            this.maskSelection = selection;
            return this;
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
            Preconditions.checkArgument(
                    maxDim >= 0,
                    "LIFT exact_svd_max_dim must be >= 0 (0 = always randomized), got %s",
                    maxDim);
            this.exactSvdMaxDim = maxDim;
            return this;
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
