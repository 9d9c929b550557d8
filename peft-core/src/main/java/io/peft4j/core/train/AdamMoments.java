package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The per-parameter state of an Adam-family optimiser: first and second moments and a step count,
 * by parameter name, in managers of the optimiser's own (one per device), and the part of {@link
 * PeftOptimizer#state()}, {@link PeftOptimizer#loadState}, {@link PeftOptimizer#stateBytes()} and
 * {@link PeftOptimizer#close()} that every such optimiser repeats. {@link AdamW} and LIFT's sparse
 * Adam keep their state here; the update formulas stay theirs.
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

    /** One parameter's state; the optimiser updates the moments in place or replaces them. */
    public static final class Slot {
        /** The first moment, shaped like what it tracks. */
        public NDArray expAvg;

        /** The second moment, shaped like {@link #expAvg}. */
        public NDArray expAvgSq;

        /** Updates taken so far. */
        public long step;

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
