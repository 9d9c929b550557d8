package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;
import static io.peft4j.core.train.AdamMoments.EXP_AVG;
import static io.peft4j.core.train.AdamMoments.EXP_AVG_SQ;
import static io.peft4j.core.train.AdamMoments.STEP;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Parameter;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.train.AdamMoments.Slot;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

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
public final class AdamW implements PeftOptimizer {

    // Hyper-parameters in double: PyTorch receives them as Python floats, and 0.9f != 0.9.
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;

    private final AdamMoments moments = new AdamMoments();

    private AdamW(Builder builder) {
        this.beta1 = builder.beta1;
        this.beta2 = builder.beta2;
        this.eps = builder.eps;
        this.weightDecay = builder.weightDecay;
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
        checkArgument(
                Float.isFinite(learningRate) && learningRate >= 0,
                "learning rate must be finite and >= 0, got %s",
                learningRate);
        for (Map.Entry<String, Parameter> entry : params.entrySet()) {
            NDArray weight = entry.getValue().getArray();
            if (!weight.hasGradient()) {
                continue;
            }
            // In-place updates of leaves must not be recorded by autograd.
            try (NoGrad noGrad = NoGrad.of(weight)) {
                update(weight, slotFor(entry.getKey(), weight), learningRate);
            }
        }
    }

    /**
     * Elements per chunk of the update. Each step reads and writes a parameter, its gradient, both
     * moments and four temporaries in 13 element-wise passes; on a large parameter (MiniLM's 30522
     * x 384 word embeddings: 47 MB per array) every pass goes to main memory. Run chunk by chunk on
     * views (256 KiB per array, eight arrays: about 2 MiB, a core's cache), the same passes read
     * each array from memory once. Element for element the arithmetic is unchanged, so the result
     * is the same as the whole-array update; parameters this small or smaller (all of a LoRA
     * adapter's) take one chunk.
     */
    static final long CHUNK = 64 * 1024;

    private void update(NDArray weight, Slot slot, float lr) {
        NDManager owner = moments.managerFor(weight);
        // Intermediates attach to the manager of their first operand; running them under a scratch
        // manager that temporarily owns the moments keeps every temporary out of long-lived
        // managers.
        try (NDManager scratch = owner.newSubManager()) {
            slot.expAvg.tempAttach(scratch);
            slot.expAvgSq.tempAttach(scratch);
            NDArray grad = weight.getGradient();
            grad.attach(scratch);

            slot.step++;
            // Bias corrections in double on the host, as PyTorch computes them in Python floats.
            double biasCorrection1 = 1 - Math.pow(beta1, (double) slot.step);
            double biasCorrection2Sqrt = Math.sqrt(1 - Math.pow(beta2, (double) slot.step));
            double stepSize = lr / biasCorrection1;
            double decay = 1 - lr * weightDecay;
            long size = weight.size();
            if (size <= CHUNK || weight.getDevice().isGpu()) {
                // a GPU streams each pass at full bandwidth, and there per-chunk launches would
                // cost more
                updateRange(
                        weight,
                        grad,
                        slot.expAvg,
                        slot.expAvgSq,
                        decay,
                        stepSize,
                        biasCorrection2Sqrt);
                return;
            }
            // reshape of a contiguous array and a range of its first axis are views: in-place
            // operations on them write through to the parameter and the moments
            NDArray w = weight.reshape(size);
            w.attach(scratch); // the view only: the parameter's storage stays where it is
            NDArray g = grad.reshape(size);
            NDArray m = slot.expAvg.reshape(size);
            NDArray v = slot.expAvgSq.reshape(size);
            for (long from = 0; from < size; from += CHUNK) {
                try (NDManager chunk = scratch.newSubManager()) {
                    NDIndex range = new NDIndex().addSliceDim(from, Math.min(size, from + CHUNK));
                    NDArray wc = w.get(range);
                    wc.attach(chunk);
                    NDArray gc = g.get(range);
                    gc.attach(chunk);
                    NDArray mc = m.get(range);
                    mc.attach(chunk);
                    NDArray vc = v.get(range);
                    vc.attach(chunk);
                    updateRange(wc, gc, mc, vc, decay, stepSize, biasCorrection2Sqrt);
                }
            }
        }
    }

    /** AdamW's element-wise update of {@code w} and its moments {@code m}, {@code v}, in place. */
    private void updateRange(
            NDArray w,
            NDArray g,
            NDArray m,
            NDArray v,
            double decay,
            double stepSize,
            double biasCorrection2Sqrt) {
        if (weightDecay != 0) {
            w.muli(decay);
        }
        m.muli(beta1).addi(g.mul(1 - beta1));
        v.muli(beta2).addi(g.square().muli(1 - beta2));
        NDArray denom = v.sqrt().divi(biasCorrection2Sqrt).addi(eps);
        w.subi(m.div(denom).muli(stepSize));
    }

    private Slot slotFor(String name, NDArray weight) {
        Slot slot = moments.get(name);
        if (slot == null) {
            return moments.create(name, weight);
        }
        checkState(
                slot.expAvg.getShape().equals(weight.getShape()),
                "optimizer state for parameter '%s' has shape %s but the parameter has shape %s",
                name,
                slot.expAvg.getShape(),
                weight.getShape());
        if (!slot.expAvg.getDevice().equals(weight.getDevice())) {
            // State loaded on another device (e.g. a CPU checkpoint resumed on a GPU): move it
            // once.
            NDManager owner = moments.managerFor(weight);
            slot.expAvg = moveTo(slot.expAvg, owner);
            slot.expAvgSq = moveTo(slot.expAvgSq, owner);
        }
        return slot;
    }

    private static NDArray moveTo(NDArray array, NDManager owner) {
        NDArray moved = array.toDevice(owner.getDevice(), true);
        moved.attach(owner);
        array.close();
        return moved;
    }

    /** {@inheritDoc} */
    @Override
    public Map<String, NDArray> state() {
        Map<String, NDArray> state = new LinkedHashMap<>();
        moments.exportTo(state);
        return state;
    }

    /** {@inheritDoc} */
    @Override
    public void loadState(Map<String, NDArray> state) {
        Map<String, Map<String, NDArray>> byParam = new TreeMap<>();
        for (Map.Entry<String, NDArray> entry : state.entrySet()) {
            String key = entry.getKey();
            int cut = key.lastIndexOf('/');
            checkArgument(
                    cut > 0,
                    "AdamW state key '%s' is not of the form <parameter>/<exp_avg|exp_avg_sq|step>",
                    key);
            byParam.computeIfAbsent(key.substring(0, cut), k -> new HashMap<>())
                    .put(key.substring(cut + 1), entry.getValue());
        }
        Map<String, Slot> loaded = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Map<String, NDArray>> entry : byParam.entrySet()) {
                String name = entry.getKey();
                Map<String, NDArray> parts = entry.getValue();
                checkArgument(
                        parts.keySet().equals(java.util.Set.of(EXP_AVG, EXP_AVG_SQ, STEP)),
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

    /** {@inheritDoc} */
    @Override
    public long stateBytes() {
        return moments.stateBytes();
    }

    /** Frees the moments and every manager this optimiser created. */
    @Override
    public void close() {
        moments.close();
    }

    @Override
    public String toString() {
        return String.format(
                "AdamW(betas=(%s, %s), eps=%s, weightDecay=%s)", beta1, beta2, eps, weightDecay);
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
