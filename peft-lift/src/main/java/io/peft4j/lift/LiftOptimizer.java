package io.peft4j.lift;

import static com.google.common.base.Preconditions.checkArgument;
import static io.peft4j.core.train.AdamMoments.EXP_AVG;
import static io.peft4j.core.train.AdamMoments.EXP_AVG_SQ;
import static io.peft4j.core.train.AdamMoments.STEP;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import io.peft4j.core.PeftModel;
import io.peft4j.core.spi.Adapter;
import io.peft4j.core.train.AdamFamilyOptimizer;
import io.peft4j.core.train.AdamMoments;
import io.peft4j.core.train.AdamMoments.Slot;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * LIFT's sparse Adam: moments are length-k vectors per matrix (never m n), the update touches only
 * the selected entries, weight decay is 0, and every {@code T} steps ({@link
 * LiftConfig#updateInterval()}) it refreshes the masks from the current weights, keeping the
 * moments of entries that stay selected and starting new ones at zero (Algorithm 1 of the paper;
 * {@code src/sparseAdam.py} of the official code). The update is the official one (Hugging Face
 * transformers' AdamW with bias correction):
 *
 * <pre>
 * t += 1
 * m  = beta1 m + (1 - beta1) g
 * v  = beta2 v + (1 - beta2) g^2
 * w -= lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)
 * </pre>
 *
 * <p>(PyTorch's {@code torch.optim.AdamW}, core's {@code AdamW}, adds eps after dividing by {@code
 * sqrt(1 - beta2^t)}; the two agree to eps.) The step counter runs on across refreshes, as in the
 * official code. Use it with {@code FineTuner.builder().optimizer(() ->
 * LiftOptimizer.forModel(peft))}.
 *
 * <p>Its {@link #state()} also carries the masks, so a checkpoint resumed after a refresh continues
 * with the refreshed masks. Not thread-safe.
 */
public final class LiftOptimizer extends AdamFamilyOptimizer {

    /**
     * The global gradient-norm clip to train LIFT with: 0 (off). The reference ({@code
     * finetune_sft.py}: accelerate loop, {@code optimizer.step()} right after {@code backward})
     * does not clip; {@code FineTuner}'s default is 1.0, so pass this to {@code maxGradNorm}.
     */
    public static final double REFERENCE_MAX_GRAD_NORM = 0.0;

    private static final String MASK = "mask_indices";
    private static final String FROZEN_INDICES = "frozen_indices";
    private static final String FROZEN_VALUES = "frozen_values";
    private static final String GLOBAL = "lift/steps";

    private final LiftAdapter adapter;
    private final int interval;
    private long steps;

    private LiftOptimizer(LiftAdapter adapter) {
        super(
                new AdamMoments.Hyper(
                        adapter.config().beta1(),
                        adapter.config().beta2(),
                        adapter.config().eps(),
                        0,
                        false));
        this.adapter = adapter;
        this.interval = adapter.config().updateInterval();
    }

    /**
     * The sparse Adam of {@code peft}'s active adapter, which must be a LIFT adapter.
     *
     * @param peft a model whose active adapter is a LIFT adapter
     * @return the optimiser
     */
    public static LiftOptimizer forModel(PeftModel peft) {
        String active = peft.activeAdapter();
        checkArgument(active != null, "the PeftModel has no active adapter");
        return forAdapter(peft.adapter(active));
    }

    /**
     * The sparse Adam of a LIFT adapter.
     *
     * @param adapter a LIFT adapter
     * @return the optimiser
     */
    public static LiftOptimizer forAdapter(Adapter adapter) {
        LiftAdapter lift =
                adapter.as(LiftAdapter.class)
                        .orElseThrow(
                                () ->
                                        new IllegalArgumentException(
                                                "LiftOptimizer needs a LIFT adapter, got "
                                                        + adapter.name()
                                                        + " ("
                                                        + adapter.config().peftType()
                                                        + ")"));
        return new LiftOptimizer(lift);
    }

    /** {@return optimiser steps taken (the refresh clock)} */
    public long steps() {
        return steps;
    }

    @Override
    public void step(Map<String, Parameter> params, float learningRate) {
        moments.step(params, learningRate, hyper, "LIFT optimizer", this::checkKey);
        steps++;
        if (interval > 0 && steps % interval == 0) {
            refreshNow();
        }
    }

    /**
     * Refreshes the adapter's masks now (the optimiser does it every {@code T} steps) and carries
     * the moments over: kept on the overlap, zero on new entries.
     */
    public void refreshNow() {
        Map<String, int[]> carries = adapter.refreshMasks();
        for (Map.Entry<String, int[]> e : carries.entrySet()) {
            Slot slot = moments.get(e.getKey());
            if (slot == null) {
                continue;
            }
            int[] carry = e.getValue();
            long k = slot.expAvg.size();
            long[] pos = new long[carry.length];
            for (int i = 0; i < carry.length; i++) {
                pos[i] = carry[i] < 0 ? k : carry[i]; // k: the appended zero
            }
            NDManager owner = moments.managerFor(slot.expAvg);
            try (NDManager scratch = owner.newSubManager()) {
                NDArray idx = scratch.create(pos);
                slot.expAvg = remap(slot.expAvg, idx, scratch, owner);
                slot.expAvgSq = remap(slot.expAvgSq, idx, scratch, owner);
            }
        }
    }

    private static NDArray remap(NDArray moment, NDArray idx, NDManager scratch, NDManager owner) {
        NDArray zero = scratch.zeros(new Shape(1), moment.getDataType());
        NDArray ext = moment.concat(zero);
        ext.attach(scratch);
        NDArray next = ext.take(idx);
        next.attach(owner);
        moment.close();
        return next;
    }

    /**
     * A LIFT values vector must belong to this adapter (a clear error otherwise); any other trained
     * tensor, such as a modules_to_save head, is updated densely with the same Adam formula.
     */
    private void checkKey(String name) {
        if (name.endsWith(".lift_values")) {
            adapter.pathOfKey(name);
        }
    }

    @Override
    public Map<String, NDArray> state() {
        Map<String, NDArray> state = new LinkedHashMap<>();
        moments.exportTo(state);
        state.put(GLOBAL, moments.exportScalar(steps));
        for (Map.Entry<String, NDArray[]> e : adapter.maskState().entrySet()) {
            NDArray[] m = e.getValue();
            state.put(e.getKey() + '/' + MASK, m[0]);
            if (m[1] != null) {
                state.put(e.getKey() + '/' + FROZEN_INDICES, m[1]);
                state.put(e.getKey() + '/' + FROZEN_VALUES, m[2]);
            }
        }
        return state;
    }

    @Override
    public void loadState(Map<String, NDArray> state) {
        Map<String, NDArray> perParameter = new LinkedHashMap<>(state);
        NDArray globalSteps = perParameter.remove(GLOBAL);
        long global = globalSteps == null ? 0 : AdamMoments.readLong(globalSteps);
        Map<String, Map<String, NDArray>> byParam =
                AdamMoments.byParameter(perParameter, "LIFT optimizer");
        Map<String, Slot> loaded = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Map<String, NDArray>> e : byParam.entrySet()) {
                String name = e.getKey();
                checkKey(name);
                Map<String, NDArray> parts = e.getValue();
                Set<String> allowed =
                        Set.of(EXP_AVG, EXP_AVG_SQ, STEP, MASK, FROZEN_INDICES, FROZEN_VALUES);
                checkArgument(
                        allowed.containsAll(parts.keySet()),
                        "LIFT optimizer state for '%s' has slots %s, expected some of %s",
                        name,
                        parts.keySet(),
                        allowed);
                if (parts.containsKey(EXP_AVG)
                        || parts.containsKey(EXP_AVG_SQ)
                        || parts.containsKey(STEP)) {
                    checkArgument(
                            parts.containsKey(EXP_AVG)
                                    && parts.containsKey(EXP_AVG_SQ)
                                    && parts.containsKey(STEP),
                            "LIFT optimizer state for '%s' needs exp_avg, exp_avg_sq and step together; found %s",
                            name,
                            parts.keySet());
                    NDArray m = parts.get(EXP_AVG);
                    NDArray v = parts.get(EXP_AVG_SQ);
                    checkArgument(
                            m.getShape().equals(v.getShape()) && m.getShape().dimension() == 1,
                            "LIFT optimizer state for '%s': exp_avg %s and exp_avg_sq %s must be equal k-vectors",
                            name,
                            m.getShape(),
                            v.getShape());
                    loaded.put(
                            name,
                            moments.restore(
                                    "LIFT optimizer state '" + name + "'", m, v, parts.get(STEP)));
                }
            }
        } catch (RuntimeException ex) {
            AdamMoments.discard(loaded.values());
            throw ex;
        }
        for (Map.Entry<String, Map<String, NDArray>> e : byParam.entrySet()) {
            Map<String, NDArray> parts = e.getValue();
            if (parts.containsKey(MASK)) {
                adapter.restoreMask(
                        e.getKey(),
                        parts.get(MASK),
                        parts.get(FROZEN_INDICES),
                        parts.get(FROZEN_VALUES));
            }
        }
        moments.replaceAll(loaded);
        steps = global;
    }

    /** Bytes of the optimiser state: two k-vectors per matrix plus an 8-byte step counter. */
    /**
     * {@return what dense Adam would hold for the same matrices (two m n moments and a counter
     * each)}
     */
    public long denseAdamStateBytes() {
        return adapter.denseAdamStateBytes();
    }

    /** {@return a one-line memory report: sparse state vs dense Adam} */
    public String memoryReport() {
        long dense = denseAdamStateBytes();
        long sparse = stateBytes();
        return String.format(
                "LIFT optimiser state %,d bytes vs dense Adam %,d bytes (%.1f%%); masks %,d bytes",
                sparse, dense, dense == 0 ? 0.0 : 100.0 * sparse / dense, adapter.maskBytes());
    }

    @Override
    public String toString() {
        return describe("LiftSparseAdam", ", T=" + interval);
    }
}
