package io.peft4j.core.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import org.junit.jupiter.api.Test;

class TestDeviceTest {

    @Test
    void defaultsToTheCpuEvenWithGpus() {
        assertEquals(Device.cpu(), TestDevice.parse(null, 2));
        assertEquals(Device.cpu(), TestDevice.parse(" ", 2));
        assertEquals(Device.cpu(), TestDevice.parse("CPU", 2));
    }

    @Test
    void gpuNamesPickAVisibleGpu() {
        assertEquals(Device.gpu(0), TestDevice.parse("gpu", 1));
        assertEquals(Device.gpu(0), TestDevice.parse("cuda", 1));
        assertEquals(Device.gpu(1), TestDevice.parse("gpu:1", 2));
    }

    @Test
    void aMissingGpuOrAnUnknownValueIsAClearError() {
        IllegalStateException none =
                assertThrows(IllegalStateException.class, () -> TestDevice.parse("gpu", 0));
        assertTrue(none.getMessage().contains("sees 0 GPU"), none.getMessage());
        IllegalStateException bad =
                assertThrows(IllegalStateException.class, () -> TestDevice.parse("tpu", 1));
        assertTrue(bad.getMessage().contains("expected cpu, gpu or gpu:N"), bad.getMessage());
    }
}
