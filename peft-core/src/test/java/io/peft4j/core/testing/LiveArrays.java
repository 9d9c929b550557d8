package io.peft4j.core.testing;

import ai.djl.ndarray.NDManager;

/** Counts the NDArrays alive in the engine, for tests that check a loop leaves none behind. */
public final class LiveArrays {

    private LiveArrays() {}

    /**
     * The number of NDArrays alive in every manager of the engine.
     *
     * @return the count
     */
    public static int count() {
        try (NDManager probe = NDManager.newBaseManager()) {
            // A base manager's parent is the engine's system manager, the root of all managers.
            return probe.getParentManager().getManagedArrays().size();
        }
    }
}
