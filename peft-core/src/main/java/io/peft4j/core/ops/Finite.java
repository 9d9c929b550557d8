package io.peft4j.core.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/** NaN/Inf checks, for merges that must refuse to write non-finite weights. */
public final class Finite {

    private Finite() {}

    /**
     * Whether every element of {@code a} is finite; temporaries are freed.
     *
     * @param a the array to check
     * @return {@code true} if {@code a} holds no NaN and no infinity
     */
    public static boolean all(NDArray a) {
        try (NDManager scratch = a.getManager().newSubManager()) {
            NDArray bad = a.isNaN().logicalOr(a.isInfinite()).any();
            bad.attach(scratch);
            return !bad.getBoolean();
        }
    }
}
