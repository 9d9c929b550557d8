package io.peft4j.core.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Dropout's distribution, scaling, gradient and repeatability: what {@code
 * torch.nn.functional.dropout} gives, with the mask drawn in Java.
 */
class InvertedDropoutTest {

    private static final int N = 200_001; // odd: the last element takes the single-draw branch

    @Test
    void keepsAboutOneMinusPAndScalesTheKeptElements() {
        for (float p : new float[] {0.1f, 0.5f, 0.9f}) {
            try (NDManager m = NDManager.newBaseManager()) {
                NDArray x = m.arange(1f, N + 1f);
                float[] y = InvertedDropout.apply(x, p, true).toFloatArray();
                float[] in = x.toFloatArray();
                int kept = 0;
                for (int i = 0; i < N; i++) {
                    if (y[i] != 0) {
                        kept++;
                        assertEquals(in[i] / (1 - p), y[i], in[i] * 1e-6f, "element " + i);
                    }
                }
                double rate = kept / (double) N;
                double sd = Math.sqrt(p * (1 - p) / N);
                // 6 standard deviations: a wrong rate fails, a right one passes but once in 1e9
                assertEquals(1 - p, rate, 6 * sd, "keep rate at p=" + p);
            }
        }
    }

    @Test
    void meanOfTheMaskIsOneSoTheExpectationIsUnchanged() {
        ByteBuffer out = ByteBuffer.allocateDirect(N * 4).order(ByteOrder.nativeOrder());
        InvertedDropout.fillMask(out, N, 0.3f, 12345L);
        double sum = 0;
        for (int i = 0; i < N; i++) {
            float v = out.getFloat(i * 4);
            assertTrue(v == 0f || v == (float) (1 / 0.7), "mask value " + v + " at " + i);
            sum += v;
        }
        assertEquals(1.0, sum / N, 6 * Math.sqrt(0.3 / 0.7 / N));
    }

    @Test
    void gradientIsTheSameMask() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.randomNormal(new Shape(64, 33));
            x.setRequiresGradient(true);
            float[] y;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray out = InvertedDropout.apply(x, 0.25f, true);
                y = out.toFloatArray();
                gc.backward(out.sum());
            }
            float[] grad = x.getGradient().toFloatArray();
            float[] in = x.toFloatArray();
            for (int i = 0; i < y.length; i++) {
                float expected = y[i] == 0 && in[i] != 0 ? 0f : 1 / 0.75f;
                assertEquals(expected, grad[i], 1e-6f, "gradient " + i);
            }
        }
    }

    @Test
    void followsTheEngineSeedAndDrawsAFreshMaskEachCall() {
        float[] first;
        float[] second;
        float[] again;
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.ones(new Shape(1000));
            Engine.getInstance().setRandomSeed(42);
            first = InvertedDropout.apply(x, 0.5f, true).toFloatArray();
            second = InvertedDropout.apply(x, 0.5f, true).toFloatArray();
            Engine.getInstance().setRandomSeed(42);
            again = InvertedDropout.apply(x, 0.5f, true).toFloatArray();
        }
        assertArrayEquals(first, again, "same engine seed, same mask");
        assertFalse(Arrays.equals(first, second), "a second call draws a new mask");
    }

    @Test
    void evaluationAndZeroProbabilityReturnTheInputAndOneZeroesIt() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.arange(1f, 11f);
            assertSame(x, InvertedDropout.apply(x, 0.5f, false));
            assertSame(x, InvertedDropout.apply(x, 0f, true));
            assertArrayEquals(new float[10], InvertedDropout.apply(x, 1f, true).toFloatArray());
        }
    }

    @Test
    void otherTypesGoToLibtorchsDropoutWithTheSameScaling() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.ones(new Shape(10_000), DataType.FLOAT64);
            double[] y = InvertedDropout.apply(x, 0.2f, true).toDoubleArray();
            long kept = Arrays.stream(y).filter(v -> v != 0).count();
            assertTrue(Arrays.stream(y).allMatch(v -> v == 0 || Math.abs(v - 1.25) < 1e-6));
            assertEquals(0.8, kept / 10_000.0, 6 * Math.sqrt(0.16 / 10_000));
        }
    }

    @Test
    void refusesAProbabilityOutsideZeroToOne() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.ones(new Shape(3));
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> InvertedDropout.apply(x, 1.5f, true));
            assertTrue(e.getMessage().contains("1.5"), e.getMessage());
            assertThrows(
                    IllegalArgumentException.class,
                    () -> InvertedDropout.apply(x, Float.NaN, false));
        }
    }
}
