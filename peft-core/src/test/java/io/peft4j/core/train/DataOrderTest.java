package io.peft4j.core.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class DataOrderTest {

    @Test
    void eachEpochVisitsDistinctExamplesAndSkipsOnlyTheTail() {
        // 23 examples, batch 3, accumulation 2: 7 micro-batches -> 3 steps (18 examples) per epoch.
        DataOrder order = new DataOrder(23, 3, 2, 7, true);
        assertEquals(3, order.stepsPerEpoch());
        for (long epoch = 0; epoch < 3; epoch++) {
            Set<Integer> seen = new HashSet<>();
            for (long step = epoch * 3; step < epoch * 3 + 3; step++) {
                for (int micro = 0; micro < 2; micro++) {
                    for (int i : order.microBatch(step, micro)) {
                        assertTrue(i >= 0 && i < 23);
                        assertTrue(seen.add(i), "example " + i + " twice in epoch " + epoch);
                    }
                }
            }
            assertEquals(18, seen.size());
        }
    }

    @Test
    void orderIsAPureFunctionOfSeedAndStep() {
        DataOrder a = new DataOrder(100, 4, 1, 11, true);
        DataOrder b = new DataOrder(100, 4, 1, 11, true);
        // b jumps straight to step 60 (epoch 2), as a resumed run does.
        assertArrayEquals(a.microBatch(60, 0), b.microBatch(60, 0));
        for (long s = 0; s < 60; s++) {
            a.microBatch(s, 0);
        }
        assertArrayEquals(a.microBatch(61, 0), b.microBatch(61, 0));
        assertFalse(Arrays.equals(a.permutation(0), a.permutation(1)), "epochs reshuffle");
        assertFalse(
                Arrays.equals(a.permutation(0), new DataOrder(100, 4, 1, 12, true).permutation(0)),
                "seeds differ");
    }

    @Test
    void withoutShufflingBatchesFollowIndexOrder() {
        DataOrder order = new DataOrder(10, 2, 2, 1, false);
        assertArrayEquals(new int[] {0, 1}, order.microBatch(0, 0));
        assertArrayEquals(new int[] {2, 3}, order.microBatch(0, 1));
        assertArrayEquals(new int[] {4, 5}, order.microBatch(1, 0));
        assertArrayEquals(new int[] {0, 1}, order.microBatch(2, 0)); // epoch 2 starts over
    }

    @Test
    void rejectsDataSmallerThanOneStep() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> new DataOrder(7, 4, 2, 0, true));
        assertTrue(e.getMessage().contains("7 examples"), e.getMessage());
    }
}
