package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import io.peft4j.core.ops.NoGrad;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * The per-parameter state of an Adam-family optimiser: first and second moments and a step count,
 * by parameter name, in managers of the optimiser's own (one per device), and the part of {@link
 * PeftOptimizer#state()}, {@link PeftOptimizer#loadState}, {@link PeftOptimizer#stateBytes()} and
 * {@link PeftOptimizer#close()} that every such optimiser repeats, and the Adam update itself
 * ({@link #step}). {@link AdamW} and LIFT's sparse Adam both keep their state and take their steps
 * here; each sets its own {@link Hyper hyper-parameters}.
 *
 * <p>State keys are {@code <parameter>/exp_avg}, {@code <parameter>/exp_avg_sq} and {@code
 * <parameter>/step}, as PyTorch's optimiser state names them. Not thread-safe.
 */
public final class AdamMoments implements AutoCloseable {

    /** The key suffix of the first moment. */
    public static final String EXP_AVG = "exp_avg";

    /** The key suffix of the second moment. */
    public static final String EXP_AVG_SQ = "exp_avg_sq";

    /** The key suffix of the step count. */
    public static final String STEP = "step";

    /**
     * Elements per chunk of the update. Each step reads and writes a parameter, its gradient, both
     * moments and four temporaries in 13 element-wise passes; on a large parameter (MiniLM's 30522
     * x 384 word embeddings: 47 MB per array) every pass goes to main memory. Run chunk by chunk on
     * views (256 KiB per array, eight arrays: about 2 MiB, a core's cache), the same passes read
     * each array from memory once. Element for element the arithmetic is unchanged, so the result
     * is the same as the whole-array update; parameters this small or smaller (all of a LoRA
     * adapter's) take one chunk.
     */
    public static final long CHUNK = 64 * 1024;

    /**
     * Set to {@code false} ({@code -Dpeft4j.adam.onePass=false}), the update of CPU FLOAT32
     * parameters takes the array form, in libtorch passes, instead of the one-pass Java update (the
     * bench times the two side by side; read at every update).
     */
    public static final String ONE_PASS_PROPERTY = "peft4j.adam.onePass";

    /**
     * The hyper-parameters of an Adam update, in double: PyTorch receives them as Python floats,
     * and 0.9f != 0.9.
     *
     * @param beta1 first-moment decay, in [0, 1)
     * @param beta2 second-moment decay, in [0, 1)
     * @param eps added to the denominator, &gt; 0
     * @param weightDecay decoupled weight decay (AdamW's), &gt;= 0; 0 for none
     * @param epsOnCorrected where eps goes: {@code true} as PyTorch's Adam and AdamW, added to
     *     {@code sqrt(v)} after its bias correction; {@code false} as the Adam paper's efficient
     *     form (LIFT's reference), the second moment's correction folded into the step size and eps
     *     added to the uncorrected {@code sqrt(v)}
     */
    public record Hyper(
            double beta1, double beta2, double eps, double weightDecay, boolean epsOnCorrected) {}

    /** One parameter's state; the optimiser updates the moments in place or replaces them. */
    public static final class Slot {
        /** The first moment, shaped like what it tracks. */
        public NDArray expAvg;

        /** The second moment, shaped like {@link #expAvg}. */
        public NDArray expAvgSq;

        /** Updates taken so far. */
        public long step;

        /**
         * The arrays {@link CpuAdamPass} last checked (weight, first, second moment) and whether
         * each was its own memory, so it checks them once, not every step.
         */
        NDArray[] onePassArrays;

        boolean onePassOwnMemory;

        private Slot(NDArray expAvg, NDArray expAvgSq, long step) {
            this.expAvg = expAvg;
            this.expAvgSq = expAvgSq;
            this.step = step;
        }

        private void close() {
            if (expAvg != null) {
                expAvg.close();
            }
            if (expAvgSq != null) {
                expAvgSq.close();
            }
        }
    }

    private final Map<String, Slot> slots = new LinkedHashMap<>();
    private final Map<Device, NDManager> managers = new HashMap<>();

    /** Step-counter arrays handed out by the last export, freed on the next one. */
    private final List<NDArray> exported = new ArrayList<>();

    /** Creates an empty state. */
    public AdamMoments() {}

    /**
     * The state of parameter {@code name}.
     *
     * @param name the parameter's name
     * @return its slot, or {@code null} before its first update
     */
    public Slot get(String name) {
        return slots.get(name);
    }

    /**
     * Starts the state of parameter {@code name}: zero moments shaped, typed and placed like {@code
     * weight}, step 0.
     *
     * @param name the parameter's name
     * @param weight what the moments track
     * @return the new slot
     */
    public Slot create(String name, NDArray weight) {
        NDManager owner = managerFor(weight);
        Slot slot =
                new Slot(
                        owner.zeros(weight.getShape(), weight.getDataType()),
                        owner.zeros(weight.getShape(), weight.getDataType()),
                        0);
        slots.put(name, slot);
        return slot;
    }

    /**
     * One Adam step for every parameter that has a gradient: its slot is created on first use (zero
     * moments), moved once to the parameter's device if it was loaded elsewhere, and updated in
     * place with the weight, outside autograd.
     *
     * @param params the parameters by name
     * @param learningRate the learning rate, finite and &gt;= 0
     * @param hyper the update's hyper-parameters
     * @param what the optimiser, for messages (e.g. {@code AdamW})
     * @param onNewSlot called with a parameter's name before its slot is first created (to check
     *     the name)
     * @throws IllegalArgumentException for a bad learning rate
     * @throws IllegalStateException if a parameter's shape differs from its state's
     */
    public void step(
            Map<String, Parameter> params,
            float learningRate,
            Hyper hyper,
            String what,
            Consumer<String> onNewSlot) {
        checkArgument(
                Float.isFinite(learningRate) && learningRate >= 0,
                "learning rate must be finite and >= 0, got %s",
                learningRate);
        for (Map.Entry<String, Parameter> entry : params.entrySet()) {
            NDArray weight = entry.getValue().getArray();
            if (!weight.hasGradient()) {
                continue;
            }
            Slot slot = slotFor(entry.getKey(), weight, what, onNewSlot);
            // In-place updates of leaves must not be recorded by autograd.
            try (NoGrad noGrad = NoGrad.of(weight)) {
                update(weight, slot, learningRate, hyper);
            }
        }
    }

    private Slot slotFor(String name, NDArray weight, String what, Consumer<String> onNewSlot) {
        Slot slot = slots.get(name);
        if (slot == null) {
            onNewSlot.accept(name);
            return create(name, weight);
        }
        checkState(
                slot.expAvg.getShape().equals(weight.getShape()),
                "%s state for parameter '%s' has shape %s but the parameter has shape %s",
                what,
                name,
                slot.expAvg.getShape(),
                weight.getShape());
        if (!slot.expAvg.getDevice().equals(weight.getDevice())) {
            // State loaded on another device (e.g. a CPU checkpoint resumed on a GPU): move it
            // once.
            NDManager owner = managerFor(weight);
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

    private void update(NDArray weight, Slot slot, float lr, Hyper h) {
        NDManager owner = managerFor(weight);
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
            double biasCorrection1 = 1 - Math.pow(h.beta1(), (double) slot.step);
            double biasCorrection2Sqrt = Math.sqrt(1 - Math.pow(h.beta2(), (double) slot.step));
            double stepSize =
                    h.epsOnCorrected()
                            ? lr / biasCorrection1
                            : lr * biasCorrection2Sqrt / biasCorrection1;
            double decay = 1 - lr * h.weightDecay();
            if (!"false".equals(System.getProperty(ONE_PASS_PROPERTY))
                    && CpuAdamPass.applies(weight, grad, slot)
                    && CpuAdamPass.update(
                            weight, grad, slot, h, decay, stepSize, biasCorrection2Sqrt)) {
                return; // one pass in Java; the array form below for the rest
            }
            long size = weight.size();
            if (size <= CHUNK || weight.getDevice().isGpu()) {
                // a GPU streams each pass at full bandwidth, and there per-chunk launches would
                // cost more
                updateRange(
                        weight,
                        grad,
                        slot.expAvg,
                        slot.expAvgSq,
                        h,
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
                    updateRange(wc, gc, mc, vc, h, decay, stepSize, biasCorrection2Sqrt);
                }
            }
        }
    }

    /**
     * The array form of one update, in libtorch passes (the reference {@link CpuAdamPass} meets).
     */
    static void updateRange(
            NDArray w,
            NDArray g,
            NDArray m,
            NDArray v,
            Hyper h,
            double decay,
            double stepSize,
            double biasCorrection2Sqrt) {
        if (h.weightDecay() != 0) {
            w.muli(decay);
        }
        m.muli(h.beta1()).addi(g.mul(1 - h.beta1()));
        v.muli(h.beta2()).addi(g.square().muli(1 - h.beta2()));
        NDArray denom = v.sqrt();
        if (h.epsOnCorrected()) {
            denom.divi(biasCorrection2Sqrt);
        }
        denom.addi(h.eps());
        w.subi(m.div(denom).muli(stepSize));
    }

    /**
     * Groups exported state by parameter: {@code <parameter>/<slot>} keys become slot name to
     * array, per parameter, sorted by parameter name.
     *
     * @param state the state, as {@link PeftOptimizer#state()} wrote it
     * @param what the optimiser, for messages
     * @return the arrays by parameter, then by slot name
     * @throws IllegalArgumentException naming a key without a {@code /}
     */
    public static Map<String, Map<String, NDArray>> byParameter(
            Map<String, NDArray> state, String what) {
        Map<String, Map<String, NDArray>> byParam = new TreeMap<>();
        for (Map.Entry<String, NDArray> entry : state.entrySet()) {
            String key = entry.getKey();
            int cut = key.lastIndexOf('/');
            checkArgument(
                    cut > 0, "%s state key '%s' is not of the form <parameter>/<slot>", what, key);
            byParam.computeIfAbsent(key.substring(0, cut), k -> new HashMap<>())
                    .put(key.substring(cut + 1), entry.getValue());
        }
        return byParam;
    }

    /** {@return the slots by parameter name, in the order they were created or loaded} */
    public Map<String, Slot> slots() {
        return Collections.unmodifiableMap(slots);
    }

    /**
     * The manager this state keeps arrays of {@code like}'s device in (created on first use).
     *
     * @param like an array on the device wanted, of the engine in use
     * @return the manager
     */
    public NDManager managerFor(NDArray like) {
        return managers.computeIfAbsent(
                like.getDevice(),
                d -> NDManager.newBaseManager(d, like.getManager().getEngine().getEngineName()));
    }

    /**
     * Adds every slot's three entries to {@code state}. The moments are this state's own arrays;
     * the step counters are fresh scalars, freed at the next export or on {@link #close()}.
     *
     * @param state the map to add to
     */
    public void exportTo(Map<String, NDArray> state) {
        exported.forEach(NDArray::close);
        exported.clear();
        for (Map.Entry<String, Slot> entry : slots.entrySet()) {
            Slot slot = entry.getValue();
            state.put(entry.getKey() + '/' + EXP_AVG, slot.expAvg);
            state.put(entry.getKey() + '/' + EXP_AVG_SQ, slot.expAvgSq);
            NDArray step = managerFor(slot.expAvg).create(slot.step);
            exported.add(step);
            state.put(entry.getKey() + '/' + STEP, step);
        }
    }

    /**
     * A scalar for an optimiser's own counters in its exported state (on the CPU), freed like the
     * step counters. Call after {@link #exportTo}.
     *
     * @param value the value
     * @return the scalar (INT64)
     */
    public NDArray exportScalar(long value) {
        NDArray scalar =
                managers.computeIfAbsent(Device.cpu(), d -> NDManager.newBaseManager(d))
                        .create(value);
        exported.add(scalar);
        return scalar;
    }

    /**
     * A slot made from loaded arrays (copied into this state's managers), not yet installed: give
     * all of them to {@link #replaceAll} once every parameter's state has been read.
     *
     * @param what the optimiser and parameter, for messages
     * @param expAvg the loaded first moment
     * @param expAvgSq the loaded second moment, same shape
     * @param step the loaded step count, one value
     * @return the slot
     * @throws IllegalArgumentException if the shapes differ or the step is not one non-negative
     *     value
     */
    public Slot restore(String what, NDArray expAvg, NDArray expAvgSq, NDArray step) {
        checkArgument(
                expAvg.getShape().equals(expAvgSq.getShape()),
                "%s: exp_avg has shape %s but exp_avg_sq has %s",
                what,
                expAvg.getShape(),
                expAvgSq.getShape());
        checkArgument(
                step.size() == 1,
                "%s/step must hold one value, got shape %s",
                what,
                step.getShape());
        long count = readLong(step);
        checkArgument(count >= 0, "%s/step is negative: %s", what, count);
        return new Slot(copyIn(expAvg), copyIn(expAvgSq), count);
    }

    /**
     * Replaces every slot with {@code loaded} (the old arrays are freed).
     *
     * @param loaded the slots by parameter name, from {@link #restore}
     */
    public void replaceAll(Map<String, Slot> loaded) {
        slots.values().forEach(Slot::close);
        slots.clear();
        slots.putAll(loaded);
    }

    /**
     * Frees slots that were restored but will not be installed (a load that failed half-way).
     *
     * @param discarded the slots
     */
    public static void discard(Collection<Slot> discarded) {
        discarded.forEach(Slot::close);
    }

    /**
     * Reads a one-value array as a long, whatever its numeric type.
     *
     * @param scalar the array
     * @return its value
     */
    public static long readLong(NDArray scalar) {
        if (scalar.getDataType() == DataType.INT64) {
            return scalar.toLongArray()[0];
        }
        // toType to another type is a real conversion: a new array of ours to close.
        try (NDArray asLong = scalar.toType(DataType.INT64, false)) {
            return asLong.toLongArray()[0];
        }
    }

    /** {@return the bytes of both moments of every slot plus 8 per step counter} */
    public long stateBytes() {
        long bytes = 0;
        for (Slot slot : slots.values()) {
            bytes += slot.expAvg.size() * slot.expAvg.getDataType().getNumOfBytes();
            bytes += slot.expAvgSq.size() * slot.expAvgSq.getDataType().getNumOfBytes();
            bytes += Long.BYTES;
        }
        return bytes;
    }

    /** Frees the moments, the exported counters and every manager this state created. */
    @Override
    public void close() {
        exported.forEach(NDArray::close);
        exported.clear();
        slots.values().forEach(Slot::close);
        slots.clear();
        managers.values().forEach(NDManager::close);
        managers.clear();
    }

    private NDArray copyIn(NDArray source) {
        // duplicate(): a libtorch clone, independent of the source's storage.
        NDArray copy = source.duplicate();
        copy.attach(managerFor(source));
        return copy;
    }
}
