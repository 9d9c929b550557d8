package io.peft4j.core.spi;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.List;

/**
 * Which adapter a forward pass uses: none (adapters disabled), one for the whole batch, or one per
 * sample ({@link #BASE} for a sample that runs the base model).
 */
public final class Selection {

    /** The name a per-sample list uses for "no adapter". */
    public static final String BASE = "__base__";

    private static final Selection NONE = new Selection(null, null);

    private final String single;
    private final String[] perSample;

    private Selection(String single, String[] perSample) {
        this.single = single;
        this.perSample = perSample;
    }

    /**
     * No adapter runs.
     *
     * @return the empty selection
     */
    public static Selection none() {
        return NONE;
    }

    /**
     * One adapter for every sample.
     *
     * @param name the adapter's name
     * @return the selection
     */
    public static Selection single(String name) {
        return name == null ? NONE : new Selection(name, null);
    }

    /**
     * One adapter name per sample of the batch.
     *
     * @param names the adapter names, one per sample
     * @return the selection
     */
    public static Selection perSample(List<String> names) {
        return new Selection(null, names.toArray(new String[0]));
    }

    /** {@return whether no adapter runs} */
    public boolean isNone() {
        return single == null && perSample == null;
    }

    /** {@return whether the batch is mixed} */
    public boolean isPerSample() {
        return perSample != null;
    }

    /** {@return the single adapter's name, or {@code null}} */
    public String single() {
        return single;
    }

    /** {@return the per-sample names (a copy)} */
    public String[] perSample() {
        return perSample == null ? null : perSample.clone();
    }

    /**
     * Whether adapter {@code name} runs on at least one sample.
     *
     * @param name the adapter's name
     * @return whether it runs
     */
    public boolean uses(String name) {
        if (single != null) {
            return single.equals(name);
        }
        return perSample != null && Arrays.asList(perSample).contains(name);
    }

    /**
     * For a per-sample selection: a (batch, 1, ..., 1) array of 1 where the sample uses adapter
     * {@code name} and 0 elsewhere, with {@code like}'s rank, type and device, to blend one
     * adapter's output into a mixed batch.
     *
     * @param name the adapter's name
     * @param like the array whose rank, type and device the mask takes
     * @return the mask
     */
    public NDArray mask(String name, NDArray like) {
        if (perSample == null) {
            throw new IllegalStateException("mask() needs a per-sample selection, not " + this);
        }
        float[] values = new float[perSample.length];
        for (int i = 0; i < perSample.length; i++) {
            values[i] = name.equals(perSample[i]) ? 1f : 0f;
        }
        long[] dims = new long[like.getShape().dimension()];
        Arrays.fill(dims, 1);
        dims[0] = perSample.length;
        try (NDArray fromJava = like.getManager().create(values, new Shape(dims))) {
            // duplicate(): torch-owned memory, not the Java buffer create() wraps (see Scalars)
            return fromJava.toDevice(like.getDevice(), true)
                    .toType(like.getDataType(), true)
                    .duplicate();
        }
    }

    @Override
    public String toString() {
        return isNone() ? "none" : single != null ? single : Arrays.toString(perSample);
    }
}
