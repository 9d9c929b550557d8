package io.peft4j.core.train;

import static io.peft4j.core.train.TrainTestSupport.liveArrays;
import static io.peft4j.core.train.TrainTestSupport.setGradient;
import static io.peft4j.core.train.TrainTestSupport.trainable;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import java.util.List;
import org.junit.jupiter.api.Test;

class GradientClippingTest {

    private static float[] gradient(Parameter p) {
        try (NDArray g = p.getArray().getGradient()) {
            return g.toFloatArray();
        }
    }

    @Test
    void scalesAllGradientsByTheGlobalNormIncludingNegativeOnes() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Parameter a = trainable("a", manager.zeros(new Shape(2)));
            Parameter b = trainable("b", manager.zeros(new Shape(1, 2)));
            setGradient(a, manager.create(new float[] {3f, -4f}));
            setGradient(b, manager.create(new float[] {-12f, 0f}, new Shape(1, 2)));
            // Global norm: sqrt(9 + 16 + 144) = 13. Element-wise clipping at 1 would leave -4, -12.
            float norm = GradientClipping.clipGlobalNorm(List.of(a, b), 1f);
            assertEquals(13f, norm, 1e-5f);
            double scale = 1.0 / (13.0 + 1e-6);
            assertArrayEquals(
                    new float[] {(float) (3 * scale), (float) (-4 * scale)}, gradient(a), 1e-7f);
            assertArrayEquals(new float[] {(float) (-12 * scale), 0f}, gradient(b), 1e-7f);
            // After clipping the global norm is (just under) the maximum.
            assertEquals(1f, GradientClipping.clipGlobalNorm(List.of(a, b), 1f), 1e-5f);
        }
    }

    @Test
    void leavesGradientsAloneBelowTheMaximum() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Parameter a = trainable("a", manager.zeros(new Shape(3)));
            float[] g = {0.1f, -0.2f, 0.3f};
            setGradient(a, manager.create(g));
            float norm = GradientClipping.clipGlobalNorm(List.of(a), 10f);
            assertEquals((float) Math.sqrt(0.01 + 0.04 + 0.09), norm, 1e-6f);
            assertArrayEquals(g, gradient(a), 0f);
        }
    }

    @Test
    void reportsANonFiniteNormWithoutTouchingTheGradients() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Parameter a = trainable("a", manager.zeros(new Shape(2)));
            setGradient(a, manager.create(new float[] {Float.POSITIVE_INFINITY, 1f}));
            assertEquals(Float.POSITIVE_INFINITY, GradientClipping.clipGlobalNorm(List.of(a), 1f));
            assertArrayEquals(new float[] {Float.POSITIVE_INFINITY, 1f}, gradient(a), 0f);
        }
    }

    @Test
    void ignoresParametersWithoutGradientsAndAllocatesNothingLasting() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Parameter a = trainable("a", manager.zeros(new Shape(2)));
            Parameter frozen =
                    Parameter.builder()
                            .setName("frozen")
                            .setType(Parameter.Type.WEIGHT)
                            .optArray(manager.ones(new Shape(2)))
                            .optRequiresGrad(false)
                            .build();
            setGradient(a, manager.create(new float[] {6f, 8f}));
            int before = liveArrays();
            for (int i = 0; i < 20; i++) {
                GradientClipping.clipGlobalNorm(List.of(a, frozen), 100f);
            }
            assertEquals(before, liveArrays());
            assertEquals(10f, GradientClipping.clipGlobalNorm(List.of(a, frozen), 100f), 1e-5f);
            assertEquals(0f, GradientClipping.clipGlobalNorm(List.of(frozen), 1f));
        }
    }

    @Test
    void rejectsANonPositiveMaximum() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> GradientClipping.clipGlobalNorm(List.of(), 0f));
        assertTrue(e.getMessage().contains("0.0"), e.getMessage());
    }
}
