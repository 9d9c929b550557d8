package io.peft4j.core.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

/**
 * The one-pass Java update gives the array form's results within 1e-6 (relative; libtorch's vector
 * sqrt may be one unit in the last place off the correctly rounded one Java computes), and leaves
 * an array that is not its own memory (a transposed view) to the array form, unchanged.
 */
class CpuAdamPassTest {

    private static final double LR = 3e-3;

    @Test
    void equalsTheArrayFormWithinOneInAMillion() {
        for (boolean epsOnCorrected : new boolean[] {true, false}) {
            for (double weightDecay : new double[] {0, 0.01}) {
                AdamMoments.Hyper h =
                        new AdamMoments.Hyper(0.9, 0.999, 1e-8, weightDecay, epsOnCorrected);
                try (NDManager m = NDManager.newBaseManager()) {
                    NDArray w = m.randomNormal(new Shape(37, 29));
                    NDArray g = m.randomNormal(new Shape(37, 29)).mul(0.1f);
                    NDArray mom1 = m.randomNormal(new Shape(37, 29)).mul(0.01f);
                    NDArray mom2 = m.randomUniform(0f, 1e-3f, new Shape(37, 29));
                    AdamMoments moments = new AdamMoments();
                    AdamMoments.Slot slot = moments.create("w", w);
                    slot.expAvg = mom1.duplicate();
                    slot.expAvgSq = mom2.duplicate();
                    NDArray wJava = w.duplicate();
                    NDArray wArrays = w.duplicate();
                    NDArray m1 = mom1.duplicate();
                    NDArray m2 = mom2.duplicate();
                    double bc1 = 1 - Math.pow(0.9, 3);
                    double bc2Sqrt = Math.sqrt(1 - Math.pow(0.999, 3));
                    double stepSize = epsOnCorrected ? LR / bc1 : LR * bc2Sqrt / bc1;
                    double decay = 1 - LR * weightDecay;
                    // three rounds: the second and third take the arrays checked in the first
                    for (int round = 0; round < 3; round++) {
                        assertTrue(CpuAdamPass.applies(wJava, g, slot));
                        assertTrue(CpuAdamPass.update(wJava, g, slot, h, decay, stepSize, bc2Sqrt));
                        AdamMoments.updateRange(wArrays, g, m1, m2, h, decay, stepSize, bc2Sqrt);
                        String what =
                                "eps on corrected " + epsOnCorrected + ", decay " + weightDecay;
                        assertClose(wArrays, wJava, what + ", weight");
                        assertClose(m1, slot.expAvg, what + ", first moment");
                        assertClose(m2, slot.expAvgSq, what + ", second moment");
                    }
                    assertFalse(
                            java.util.Arrays.equals(w.toFloatArray(), wJava.toFloatArray()),
                            "the update changed the weight");
                    moments.close();
                }
            }
        }
    }

    private static void assertClose(NDArray expected, NDArray actual, String what) {
        float[] e = expected.toFloatArray();
        float[] a = actual.toFloatArray();
        for (int i = 0; i < e.length; i++) {
            double tolerance = 1e-6 * Math.max(1e-3, Math.abs(e[i]));
            assertTrue(
                    Math.abs(e[i] - a[i]) <= tolerance,
                    what + " at " + i + ": " + a[i] + " vs the array form's " + e[i]);
        }
    }

    @Test
    void leavesAnArrayThatIsNotItsOwnMemoryToTheArrayForm() {
        AdamMoments.Hyper h = new AdamMoments.Hyper(0.9, 0.999, 1e-8, 0.01, true);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray base = m.randomNormal(new Shape(6, 5));
            NDArray transposed = base.transpose(); // a view with swapped strides
            float[] before = base.toFloatArray();
            AdamMoments moments = new AdamMoments();
            AdamMoments.Slot slot = moments.create("w", transposed);
            NDArray g = m.ones(new Shape(5, 6));
            int arrays = m.getManagedArrays().size();
            assertFalse(CpuAdamPass.update(transposed, g, slot, h, 0.99, 1e-3, 1));
            assertFalse(CpuAdamPass.update(transposed, g, slot, h, 0.99, 1e-3, 1), "again");
            assertArrayEquals(before, base.toFloatArray(), 0f, "nothing written");
            assertEquals(arrays, m.getManagedArrays().size(), "the engine's copy was freed");
            moments.close();
        }
    }
}
