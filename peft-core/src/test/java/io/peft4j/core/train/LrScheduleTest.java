package io.peft4j.core.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LrScheduleTest {

    @Test
    void constantIsConstant() {
        LrSchedule s = LrSchedule.constant(3e-4f);
        assertEquals(3e-4f, s.at(0));
        assertEquals(3e-4f, s.at(1_000_000));
    }

    @Test
    void warmupIsLinearFromZeroAsInHuggingFace() {
        LrSchedule s = LrSchedule.warmupConstant(1f, 10);
        assertEquals(0f, s.at(0));
        assertEquals(0.5f, s.at(5));
        assertEquals(0.9f, s.at(9), 1e-7f);
        assertEquals(1f, s.at(10));
        assertEquals(1f, s.at(500));
    }

    @Test
    void cosineHitsPeakHalfwayAndFloorAtKeySteps() {
        // peak 1, warmup 10, total 110, floor 10%: decay over 100 steps.
        LrSchedule s = LrSchedule.warmupCosine(1f, 10, 110, 0.1f);
        assertEquals(0f, s.at(0));
        assertEquals(0.5f, s.at(5));
        assertEquals(1f, s.at(10), 1e-7f);
        assertEquals(0.1f + 0.9f * 0.5f, s.at(60), 1e-6f); // halfway: cos(pi/2) = 0
        assertEquals(
                0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * 0.25)), s.at(35), 1e-6); // a quarter in
        assertEquals(0.1f, s.at(110), 1e-7f);
        assertEquals(0.1f, s.at(10_000), 1e-7f); // stays at the floor after the end
    }

    @Test
    void linearDecaysToTheFloorAndStaysThere() {
        LrSchedule s = LrSchedule.warmupLinear(2f, 4, 104, 0f);
        assertEquals(1f, s.at(2));
        assertEquals(2f, s.at(4));
        assertEquals(1f, s.at(54), 1e-6f);
        assertEquals(0.02f, s.at(103), 1e-6f);
        assertEquals(0f, s.at(104));
        assertEquals(0f, s.at(200));
        LrSchedule floored = LrSchedule.warmupLinear(1f, 0, 100, 0.2f);
        assertEquals(1f, floored.at(0));
        assertEquals(0.6f, floored.at(50), 1e-6f);
        assertEquals(0.2f, floored.at(100), 1e-6f);
    }

    @Test
    void kindBuildsTheMatchingSchedule() {
        assertEquals(
                LrSchedule.warmupCosine(1f, 5, 50, 0f).at(30),
                LrSchedule.Kind.COSINE.create(1f, 5, 50, 0f).at(30));
        assertEquals(
                LrSchedule.warmupLinear(1f, 5, 50, 0f).at(30),
                LrSchedule.Kind.LINEAR.create(1f, 5, 50, 0f).at(30));
        assertEquals(1f, LrSchedule.Kind.CONSTANT.create(1f, 5, 50, 0f).at(30));
        assertTrue(LrSchedule.Kind.COSINE.create(1f, 5, 50, 0f).toString().startsWith("cosine("));
    }

    @Test
    void rejectsBadArgumentsNamingTheValue() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> LrSchedule.warmupCosine(1f, 20, 10, 0f));
        assertTrue(e.getMessage().contains("20") && e.getMessage().contains("10"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.constant(Float.NaN));
        assertThrows(
                IllegalArgumentException.class, () -> LrSchedule.warmupLinear(1f, 0, 10, 1.5f));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.constant(1f).at(-1));
    }
}
