package io.peft4j.core.spi;

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

    /** No adapter runs. */
    public static Selection none() {
        return NONE;
    }

    /** One adapter for every sample. */
    public static Selection single(String name) {
        return name == null ? NONE : new Selection(name, null);
    }

    /** One adapter name per sample of the batch. */
    public static Selection perSample(List<String> names) {
        return new Selection(null, names.toArray(new String[0]));
    }

    /** Whether no adapter runs. */
    public boolean isNone() {
        return single == null && perSample == null;
    }

    /** Whether the batch is mixed. */
    public boolean isPerSample() {
        return perSample != null;
    }

    /** The single adapter's name, or {@code null}. */
    public String single() {
        return single;
    }

    /** The per-sample names (a copy). */
    public String[] perSample() {
        return perSample == null ? null : perSample.clone();
    }

    /** Whether adapter {@code name} runs on at least one sample. */
    public boolean uses(String name) {
        if (single != null) {
            return single.equals(name);
        }
        return perSample != null && Arrays.asList(perSample).contains(name);
    }

    @Override
    public String toString() {
        return isNone() ? "none" : single != null ? single : Arrays.toString(perSample);
    }
}
