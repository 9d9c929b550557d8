package io.peft4j.lift;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
import io.peft4j.core.spi.AdapterTensors;
import io.peft4j.core.spi.LayeredAdapter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One named LIFT adapter across its modules. Its file holds, per module, the selected flat indices
 * ({@code base_model.model.<path>.lift_indices}, int64, ascending) and their trained values ({@code
 * ...lift_values}); after a mask refresh, entries trained earlier and no longer selected are kept
 * as {@code ...lift_frozen_indices} / {@code ...lift_frozen_values}. Together they are a sparse
 * replacement of base entries: loading applies it to a fresh base, merging writes it into the dense
 * weight (remembering the base values it overwrote, so unmerge is exact).
 */
public final class LiftAdapter extends LayeredAdapter<LiftLayer, LiftLayer.Sparse, LiftConfig> {

    static final String PREFIX = AdapterTensors.PREFIX;
    static final String VALUES = ".lift_values";
    static final String INDICES = ".lift_indices";
    static final String FROZEN_INDICES = ".lift_frozen_indices";
    static final String FROZEN_VALUES = ".lift_frozen_values";

    private int refreshes;

    LiftAdapter(AdapterContext ctx, LiftConfig config, String name) {
        super(ctx, config, name);
    }

    /** The modules this adapter lives in (the injector adds to them). */
    AdapterLayers<LiftLayer, LiftLayer.Sparse> layers() {
        return layers;
    }

    private LiftLayer.Sparse sparse(String path) {
        if (layers.layer(path) == null) {
            throw new IllegalArgumentException(
                    "adapter '"
                            + name()
                            + "' has no module '"
                            + path
                            + "'; modules: "
                            + layers.paths());
        }
        return layers.entry(path);
    }

    /**
     * The selected flat (row-major) indices of the module at {@code path}, ascending.
     *
     * @param path the module's dotted path
     * @return the indices
     */
    public long[] maskIndices(String path) {
        return sparse(path).indices.toLongArray();
    }

    /**
     * The shape (out, in) of the weight at {@code path}.
     *
     * @param path the module's dotted path
     * @return the shape
     */
    public Shape weightShape(String path) {
        sparse(path);
        return layers.layer(path).baseWeight().getArray().getShape();
    }

    /**
     * The effective weight of the module at {@code path} as this adapter sees it (base weight with
     * the trained entries), a copy attached to {@code manager}.
     *
     * @param path the module's dotted path
     * @param manager owns the returned copy
     * @return the effective weight
     */
    public NDArray effectiveWeight(String path, NDManager manager) {
        LiftLayer.Sparse s = sparse(path);
        LiftLayer layer = layers.layer(path);
        if (s.merged()) {
            NDArray copy = layer.baseWeight().getArray().duplicate();
            copy.attach(manager);
            return copy;
        }
        return layer.effectiveWeight(s, manager);
    }

    /** {@return how many entries this adapter trains (the sum of k over its modules)} */
    public long trainableEntries() {
        long total = 0;
        for (String path : layers.byPath().keySet()) {
            total += sparse(path).k();
        }
        return total;
    }

    /**
     * Bytes dense Adam would hold for the same matrices: two moments of m n entries each in the
     * weight's dtype, plus an 8-byte step counter, per matrix.
     *
     * @return the bytes
     */
    public long denseAdamStateBytes() {
        long bytes = 0;
        for (LiftLayer layer : layers.byPath().values()) {
            NDArray w = layer.baseWeight().getArray();
            bytes += 2 * w.size() * w.getDataType().getNumOfBytes() + Long.BYTES;
        }
        return bytes;
    }

    /** {@return bytes of the masks themselves (indices and frozen overlay), held by the adapter} */
    public long maskBytes() {
        long bytes = 0;
        for (String path : layers.byPath().keySet()) {
            LiftLayer.Sparse s = sparse(path);
            bytes += s.indices.size() * s.indices.getDataType().getNumOfBytes();
            if (s.frozenIndices != null) {
                bytes +=
                        s.frozenIndices.size() * s.frozenIndices.getDataType().getNumOfBytes()
                                + s.frozenValues.size()
                                        * s.frozenValues.getDataType().getNumOfBytes();
            }
        }
        return bytes;
    }

    /** {@return how many times the masks were refreshed} */
    public int refreshes() {
        return refreshes;
    }

    @Override
    public Map<String, Parameter> parameters() {
        Map<String, Parameter> result = new LinkedHashMap<>();
        for (String path : layers.byPath().keySet()) {
            result.put(PREFIX + path + VALUES, sparse(path).values);
        }
        return result;
    }

    @Override
    public Map<String, NDArray> frozenState() {
        Map<String, NDArray> result = new LinkedHashMap<>();
        for (String path : layers.byPath().keySet()) {
            LiftLayer.Sparse s = sparse(path);
            result.put(PREFIX + path + INDICES, s.indices);
            if (s.frozenIndices != null) {
                result.put(PREFIX + path + FROZEN_INDICES, s.frozenIndices);
                result.put(PREFIX + path + FROZEN_VALUES, s.frozenValues);
            }
        }
        return result;
    }

    /** The module path of a parameter key ({@code base_model.model.<path>.lift_values}). */
    String pathOfKey(String key) {
        if (!key.startsWith(PREFIX) || !key.endsWith(VALUES)) {
            throw new IllegalArgumentException(
                    "'" + key + "' is not a LIFT values key (" + PREFIX + "<path>" + VALUES + ")");
        }
        String path = key.substring(PREFIX.length(), key.length() - VALUES.length());
        if (!layers.byPath().containsKey(path)) {
            throw new IllegalArgumentException(
                    "adapter '" + name() + "' has no module '" + path + "' (key " + key + ")");
        }
        return path;
    }

    // ------------------------------------------------------------------ load

    @Override
    public Map<String, AdapterTensors.Spec> tensorSpecs() {
        Map<String, AdapterTensors.Spec> specs = new LinkedHashMap<>();
        for (Map.Entry<String, LiftLayer> e : layers.byPath().entrySet()) {
            String path = e.getKey();
            long k = sparse(path).k();
            long total = e.getValue().baseWeight().getArray().size();
            String hint = "k = " + k + " selected of " + total;
            specs.put(
                    PREFIX + path + VALUES,
                    AdapterTensors.Spec.weight(PREFIX + path + VALUES, new Shape(k), hint));
            specs.put(
                    PREFIX + path + INDICES,
                    AdapterTensors.Spec.index(PREFIX + path + INDICES, new Shape(k), hint));
            // frozen carries: any count up to the weight's size
            specs.put(
                    PREFIX + path + FROZEN_INDICES,
                    new AdapterTensors.Spec(
                            PREFIX + path + FROZEN_INDICES,
                            null,
                            total,
                            AdapterTensors.Kind.INDEX,
                            false,
                            ""));
            specs.put(
                    PREFIX + path + FROZEN_VALUES,
                    new AdapterTensors.Spec(
                            PREFIX + path + FROZEN_VALUES,
                            null,
                            total,
                            AdapterTensors.Kind.FLOAT,
                            false,
                            ""));
        }
        return specs;
    }

    /**
     * The indices of every module: int64 or int32, in range, strictly increasing; the frozen
     * overlay complete (indices and values together, same shape) and disjoint from the selection.
     */
    @Override
    protected void checkValues(Map<String, NDArray> tensors, List<String> problems) {
        for (Map.Entry<String, LiftLayer> e : layers.byPath().entrySet()) {
            String path = e.getKey();
            long k = sparse(path).k();
            long total = e.getValue().baseWeight().getArray().size();
            String iKey = PREFIX + path + INDICES;
            String fiKey = PREFIX + path + FROZEN_INDICES;
            String fvKey = PREFIX + path + FROZEN_VALUES;
            long[] selected = checkIndices(iKey, tensors.get(iKey), k, total, problems);
            NDArray fi = tensors.get(fiKey);
            NDArray fv = tensors.get(fvKey);
            if ((fi == null) != (fv == null)) {
                problems.add(
                        "tensors "
                                + fiKey
                                + " and "
                                + fvKey
                                + " come together; found only "
                                + (fi == null ? fvKey : fiKey));
            } else if (fi != null) {
                long[] ids = checkIndices(fiKey, fi, fi.size(), total, problems);
                if (!fv.getShape().equals(fi.getShape())) {
                    problems.add(
                            "tensor "
                                    + fvKey
                                    + " is "
                                    + fv.getDataType()
                                    + " "
                                    + fv.getShape()
                                    + ", expected floating "
                                    + fi.getShape());
                } else if (ids != null && selected != null && overlaps(selected, ids)) {
                    problems.add(
                            "tensors "
                                    + iKey
                                    + " and "
                                    + fiKey
                                    + " share indices; they must be disjoint");
                }
            }
        }
    }

    /** Each module's values, selection and frozen overlay, as the checked file holds them. */
    @Override
    protected void copyIn(Map<String, NDArray> tensors) {
        NDManager owner = ctx.manager();
        for (String path : layers.byPath().keySet()) {
            LiftLayer.Sparse s = sparse(path);
            NDArray target = s.values.getArray();
            NDArray source = tensors.get(PREFIX + path + VALUES);
            NDArray frozenIndices = tensors.get(PREFIX + path + FROZEN_INDICES);
            try (NoGrad off = NoGrad.of(target)) {
                AdapterTensors.copy(source, target);
                replaceIndices(
                        s,
                        owner.create(longs(tensors.get(PREFIX + path + INDICES)))
                                .toDevice(target.getDevice(), false));
                s.closeFrozen();
                if (frozenIndices != null) {
                    NDArray fv = tensors.get(PREFIX + path + FROZEN_VALUES);
                    setFrozen(
                            s,
                            owner.create(longs(frozenIndices)).toDevice(target.getDevice(), false),
                            fv.toType(target.getDataType(), true)
                                    .toDevice(target.getDevice(), false),
                            owner);
                }
            }
        }
    }

    private static long[] longs(NDArray idx) {
        return idx.getDataType() == DataType.INT64
                ? idx.toLongArray()
                : Arrays.stream(idx.toIntArray()).asLongStream().toArray();
    }

    private static long[] checkIndices(
            String key, NDArray idx, long k, long total, List<String> problems) {
        DataType t = idx.getDataType();
        if (t != DataType.INT64 && t != DataType.INT32) {
            problems.add("tensor " + key + " is " + t + ", expected int64 indices");
            return null;
        }
        if (!idx.getShape().equals(new Shape(k))) {
            problems.add(
                    "tensor " + key + " has shape " + idx.getShape() + ", expected (" + k + ")");
            return null;
        }
        long[] ids = longs(idx);
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= total) {
                problems.add(
                        "tensor "
                                + key
                                + "["
                                + i
                                + "] = "
                                + ids[i]
                                + " is outside [0, "
                                + total
                                + ")");
                return null;
            }
            if (i > 0 && ids[i] <= ids[i - 1]) {
                problems.add(
                        "tensor "
                                + key
                                + " must be strictly increasing; ["
                                + (i - 1)
                                + "] = "
                                + ids[i - 1]
                                + ", ["
                                + i
                                + "] = "
                                + ids[i]);
                return null;
            }
        }
        return ids;
    }

    private static boolean overlaps(long[] a, long[] b) {
        for (int p : LiftMasks.carry(a, b)) {
            if (p >= 0) {
                return true;
            }
        }
        return false;
    }

    private void replaceIndices(LiftLayer.Sparse s, NDArray indices) {
        indices.attach(ctx.manager());
        NDArray old = s.indices;
        s.indices = indices;
        old.close();
    }

    private static void setFrozen(
            LiftLayer.Sparse s, NDArray indices, NDArray values, NDManager owner) {
        indices.attach(owner);
        values.attach(owner);
        s.frozenIndices = indices;
        s.frozenValues = values;
    }

    // ------------------------------------------------------------------ refresh (LiftOptimizer)

    /**
     * Recomputes every module's mask from its current effective weight (Algorithm 1 of the paper):
     * the trained values of entries that stay selected are kept, new entries start from the current
     * weight, entries that leave keep their trained values in the frozen overlay.
     *
     * @return per parameter key, for each new mask position its position in the old mask or -1
     */
    Map<String, int[]> refreshMasks() {
        if (isMerged()) {
            throw new IllegalStateException(
                    "adapter '" + name() + "' is merged; unmerge before refreshing its masks");
        }
        refreshes++;
        Map<String, int[]> carries = new LinkedHashMap<>();
        for (Map.Entry<String, LiftLayer> e : layers.byPath().entrySet()) {
            String path = e.getKey();
            LiftLayer layer = e.getValue();
            LiftLayer.Sparse s = sparse(path);
            NDArray target = s.values.getArray();
            try (NDManager scratch = ctx.manager().newSubManager(target.getDevice());
                    NoGrad off = NoGrad.of(target)) {
                NDArray weff = layer.effectiveWeight(s, scratch);
                long[] old = s.indices.toLongArray();
                long[] next =
                        LiftMasks.select(weff, s.k(), config, seedFor(path) + 7919L * refreshes);
                int[] carry = LiftMasks.carry(old, next);
                long[] frozenOld =
                        s.frozenIndices == null ? new long[0] : s.frozenIndices.toLongArray();
                long[] leaving = minus(union(old, frozenOld), next);
                NDArray flat = weff.flatten();
                NDArray nextIdx = scratch.create(next);
                NDArray newValues = flat.take(nextIdx);
                newValues.copyTo(target);
                replaceIndices(s, nextIdx.duplicate());
                s.closeFrozen();
                if (leaving.length > 0) {
                    NDArray leavingIdx = scratch.create(leaving);
                    NDArray leavingValues = flat.take(leavingIdx);
                    setFrozen(s, leavingIdx.duplicate(), leavingValues.duplicate(), ctx.manager());
                }
                carries.put(PREFIX + path + VALUES, carry);
            }
        }
        return carries;
    }

    /** Replaces a module's mask state (resuming from an optimiser checkpoint). */
    void restoreMask(String key, NDArray indices, NDArray frozenIndices, NDArray frozenValues) {
        LiftLayer.Sparse s = sparse(pathOfKey(key));
        if (!indices.getShape().equals(new Shape(s.k()))) {
            throw new IllegalArgumentException(
                    "mask for "
                            + key
                            + " has shape "
                            + indices.getShape()
                            + ", expected ("
                            + s.k()
                            + ")");
        }
        NDArray target = s.values.getArray();
        NDArray idx = indices.toType(DataType.INT64, true).toDevice(target.getDevice(), false);
        replaceIndices(s, idx);
        s.closeFrozen();
        if (frozenIndices != null) {
            setFrozen(
                    s,
                    frozenIndices.toType(DataType.INT64, true).toDevice(target.getDevice(), false),
                    frozenValues
                            .toType(target.getDataType(), true)
                            .toDevice(target.getDevice(), false),
                    ctx.manager());
        }
    }

    /** Mask state for optimiser checkpoints: per key, indices and (if any) the frozen overlay. */
    Map<String, NDArray[]> maskState() {
        Map<String, NDArray[]> result = new LinkedHashMap<>();
        for (String path : layers.byPath().keySet()) {
            LiftLayer.Sparse s = sparse(path);
            result.put(
                    PREFIX + path + VALUES,
                    new NDArray[] {s.indices, s.frozenIndices, s.frozenValues});
        }
        return result;
    }

    long seedFor(String path) {
        return config.seed() * 1_000_003L + path.hashCode();
    }

    private static long[] union(long[] a, long[] b) {
        long[] out = new long[a.length + b.length];
        int i = 0;
        int j = 0;
        int n = 0;
        while (i < a.length || j < b.length) {
            if (j >= b.length || (i < a.length && a[i] < b[j])) {
                out[n++] = a[i++];
            } else if (i >= a.length || b[j] < a[i]) {
                out[n++] = b[j++];
            } else {
                out[n++] = a[i++];
                j++;
            }
        }
        return Arrays.copyOf(out, n);
    }

    private static long[] minus(long[] a, long[] b) {
        int[] pos = LiftMasks.carry(b, a);
        long[] out = new long[a.length];
        int n = 0;
        for (int i = 0; i < a.length; i++) {
            if (pos[i] < 0) {
                out[n++] = a[i];
            }
        }
        return Arrays.copyOf(out, n);
    }

    // ------------------------------------------------------------------ merge

    @Override
    public void merge() {
        try (NDManager scratch = ctx.manager().newSubManager()) {
            layers.mergeAllOrNothing(
                    "adapter",
                    (path, layer, s) -> layer.effectiveWeight(s, scratch),
                    (layer, s, merged) -> {
                        NDArray w = layer.baseWeight().getArray();
                        s.mergedOriginal =
                                w.take(s.indices); // the base values it overwrites, to unmerge
                        // exactly
                        s.mergedOriginal.attach(ctx.manager());
                        if (s.frozenIndices != null) {
                            s.mergedOriginalFrozen = w.take(s.frozenIndices);
                            s.mergedOriginalFrozen.attach(ctx.manager());
                        }
                        merged.copyTo(w);
                        s.setMerged(true);
                    });
        }
    }

    @Override
    public void unmerge() {
        layers.unmergeAll(
                (path, layer, s) -> {
                    NDArray w = layer.baseWeight().getArray();
                    try (NDManager scratch = ctx.manager().newSubManager()) {
                        NDArray flat = w.flatten();
                        flat.attach(scratch);
                        if (s.frozenIndices != null) {
                            flat = flat.put(s.frozenIndices, s.mergedOriginalFrozen);
                        }
                        flat.put(s.indices, s.mergedOriginal).reshape(w.getShape()).copyTo(w);
                    }
                    s.closeMerged();
                });
    }

    @Override
    public String toString() {
        return "LiftAdapter("
                + name()
                + ", modules="
                + layers.byPath().size()
                + ", entries="
                + trainableEntries()
                + ")";
    }
}
