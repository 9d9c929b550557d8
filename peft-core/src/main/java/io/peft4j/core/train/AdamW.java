package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;
import static io.peft4j.core.train.AdamMoments.EXP_AVG;
import static io.peft4j.core.train.AdamMoments.EXP_AVG_SQ;
import static io.peft4j.core.train.AdamMoments.STEP;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import io.peft4j.core.train.AdamMoments.Slot;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Adam with decoupled weight decay, step for step as PyTorch's {@code torch.optim.AdamW}
 * (single-tensor path, {@code amsgrad=False}, {@code maximize=False}):
 *
 * <pre>
 * t += 1
 * w  = w * (1 - lr * weightDecay)
 * m  = beta1 * m + (1 - beta1) * g
 * v  = beta2 * v + (1 - beta2) * g * g
 * w  = w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * </pre>
 *
 * <p>The moments live on each parameter's device, in its data type, in managers this optimiser
 * owns; the step counter {@code t} is per parameter, as in PyTorch. State keys are {@code
 * <name>/exp_avg}, {@code <name>/exp_avg_sq} and {@code <name>/step} (an int64 scalar). Parameters
 * whose arrays carry no gradient are skipped, as PyTorch skips those whose {@code grad} is None.
 *
 * <p>Not thread-safe.
 */
public final class AdamW extends AdamFamilyOptimizer {

    private AdamW(Builder builder) {
        // in double: PyTorch receives them as Python floats, and 0.9f != 0.9
        super(
                new AdamMoments.Hyper(
                        builder.beta1, builder.beta2, builder.eps, builder.weightDecay, true));
    }

    /**
     * Returns a builder with PyTorch's defaults except the weight decay: betas (0.9, 0.999), eps
     * 1e-8, weight decay 0 (PyTorch's AdamW defaults to 0.01; adapters are usually trained
     * without).
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** {@inheritDoc} */
    @Override
    public void step(Map<String, Parameter> params, float learningRate) {
        moments.step(params, learningRate, hyper, "AdamW", name -> {});
    }

    /** {@link AdamMoments#CHUNK}: tests size their arrays by it. */
    static final long CHUNK = AdamMoments.CHUNK;

    @Override
    public Map<String, NDArray> state() {
        Map<String, NDArray> state = new LinkedHashMap<>();
        moments.exportTo(state);
        return state;
    }

    /** {@inheritDoc} */
    @Override
    public void loadState(Map<String, NDArray> state) {
        Map<String, Map<String, NDArray>> byParam = AdamMoments.byParameter(state, "AdamW");
        Map<String, Slot> loaded = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Map<String, NDArray>> entry : byParam.entrySet()) {
                String name = entry.getKey();
                Map<String, NDArray> parts = entry.getValue();
                checkArgument(
                        parts.keySet().equals(Set.of(EXP_AVG, EXP_AVG_SQ, STEP)),
                        "AdamW state for parameter '%s' has slots %s, expected [exp_avg, exp_avg_sq,"
                                + " step]",
                        name,
                        parts.keySet());
                loaded.put(
                        name,
                        moments.restore(
                                "AdamW state '" + name + "'",
                                parts.get(EXP_AVG),
                                parts.get(EXP_AVG_SQ),
                                parts.get(STEP)));
            }
        } catch (RuntimeException e) {
            AdamMoments.discard(loaded.values());
            throw e;
        }
        moments.replaceAll(loaded);
    }

    @Override
    public String toString() {
        return describe("AdamW", ", weightDecay=" + hyper.weightDecay());
    }

    /** Builds an {@link AdamW}. */
    public static final class Builder {
        private double beta1 = 0.9;
        private double beta2 = 0.999;
        private double eps = 1e-8;
        private double weightDecay = 0;

        private Builder() {}

        /**
         * Sets the moment decay rates.
         *
         * @param beta1 first-moment decay, in [0, 1)
         * @param beta2 second-moment decay, in [0, 1)
         * @return this builder
         */
        public Builder betas(double beta1, double beta2) {
            checkArgument(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1), got %s", beta1);
            checkArgument(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1), got %s", beta2);
            this.beta1 = beta1;
            this.beta2 = beta2;
            return this;
        }

        /**
         * Sets the term added to the denominator for numerical stability.
         *
         * @param eps a finite value > 0
         * @return this builder
         */
        public Builder eps(double eps) {
            checkArgument(
                    Double.isFinite(eps) && eps > 0, "eps must be finite and > 0, got %s", eps);
            this.eps = eps;
            return this;
        }

        /**
         * Sets the decoupled weight decay (multiplies the weight by {@code 1 - lr * weightDecay}).
         *
         * @param weightDecay a finite value >= 0
         * @return this builder
         */
        public Builder weightDecay(double weightDecay) {
            checkArgument(
                    Double.isFinite(weightDecay) && weightDecay >= 0,
                    "weightDecay must be finite and >= 0, got %s",
                    weightDecay);
            this.weightDecay = weightDecay;
            return this;
        }

        /**
         * Builds the optimiser.
         *
         * @return a new optimiser with empty state
         */
        public AdamW build() {
            return new AdamW(this);
        }
    }
}
