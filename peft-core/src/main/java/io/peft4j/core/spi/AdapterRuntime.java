package io.peft4j.core.spi;

import java.util.List;

/**
 * The switchboard every adapter layer of one model consults during forward: which adapter is
 * active, whether adapters are disabled, and a per-thread override (per-call adapter choice, mixed
 * batches). Per-thread so that several threads can serve different adapters at once.
 */
public final class AdapterRuntime {

    private volatile String activeAdapter;
    private volatile boolean disabled;

    // Per model and per thread (several models serve at once), so an instance field.
    @SuppressWarnings("ThreadLocalUsage")
    private final ThreadLocal<Selection> override = new ThreadLocal<>();

    private volatile Runnable trainingGuard;

    /**
     * Sets what runs before each training forward of an adapter layer ({@code null}: nothing).
     * PeftModel keeps the base frozen with it when a framework unfroze the whole tree.
     *
     * @param guard the guard, or {@code null}
     */
    public void setTrainingGuard(Runnable guard) {
        this.trainingGuard = guard;
    }

    /** Layers call this at the start of a training forward. */
    public void beforeTrainingForward() {
        Runnable guard = trainingGuard;
        if (guard != null) {
            guard.run();
        }
    }

    /** {@return the selection for a forward pass on the calling thread} */
    public Selection current() {
        Selection o = override.get();
        if (o != null) {
            return o;
        }
        return disabled ? Selection.none() : Selection.single(activeAdapter);
    }

    /** {@return the active adapter's name, or {@code null}} */
    public String activeAdapter() {
        return activeAdapter;
    }

    /**
     * Sets the active adapter (PeftModel does this; layers only read).
     *
     * @param name the adapter's name, or {@code null}
     */
    public void setActiveAdapter(String name) {
        this.activeAdapter = name;
    }

    /** {@return whether adapters are disabled for every thread} */
    public boolean disabled() {
        return disabled;
    }

    /**
     * Disables or enables adapters for every thread.
     *
     * @param disabled whether adapters are disabled
     */
    public void setDisabled(boolean disabled) {
        this.disabled = disabled;
    }

    /** {@return the calling thread's override, or {@code null}} */
    public Selection override() {
        return override.get();
    }

    /**
     * Sets ({@code null}: clears) the calling thread's override.
     *
     * @param selection the override, or {@code null} to clear it
     */
    public void setOverride(Selection selection) {
        if (selection == null) {
            override.remove();
        } else {
            override.set(selection);
        }
    }

    /**
     * Checks that a per-sample selection fits a batch, for layers to call before applying it.
     *
     * @param selection the selection to check
     * @param batchSize the batch size
     * @param training whether this is a training forward
     * @throws IllegalStateException in training mode, or when the list length differs from the
     *     batch size
     */
    public static void checkPerSample(Selection selection, long batchSize, boolean training) {
        if (!selection.isPerSample()) {
            return;
        }
        if (training) {
            throw new IllegalStateException(
                    "Mixed-batch adapters (one adapter per sample) are for inference only;"
                            + " call forward with training=false");
        }
        List<String> names = List.of(selection.perSample());
        if (names.size() != batchSize) {
            throw new IllegalArgumentException(
                    "Mixed-batch adapter list has "
                            + names.size()
                            + " names but the batch has "
                            + batchSize
                            + " samples: "
                            + names);
        }
    }
}
