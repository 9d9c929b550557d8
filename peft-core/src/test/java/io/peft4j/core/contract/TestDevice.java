package io.peft4j.core.contract;

import ai.djl.Device;
import ai.djl.engine.Engine;
import java.util.Locale;

/**
 * The device the contract suite builds its models and inputs on: {@code -Dpeft4j.test.device=gpu}
 * (or the environment variable {@code PEFT4J_TEST_DEVICE}) runs every method's contract checks on
 * the first GPU, {@code gpu:N} on GPU N; the default is the CPU, whatever hardware is present
 * (DJL's own default would be the GPU when one is visible, so a CPU run must not depend on it).
 */
public final class TestDevice {

    /** The system property that picks the device. */
    public static final String PROPERTY = "peft4j.test.device";

    /** The environment variable read when the property is not set. */
    public static final String ENV = "PEFT4J_TEST_DEVICE";

    private TestDevice() {}

    /**
     * The device asked for.
     *
     * @return the CPU unless {@code gpu} or {@code gpu:N} was asked for
     * @throws IllegalStateException if a GPU was asked for and the engine sees none, or the value
     *     is unknown
     */
    public static Device get() {
        String value = System.getProperty(PROPERTY);
        if (value == null || value.isBlank()) {
            value = System.getenv(ENV);
        }
        return parse(value, Engine.getInstance().getGpuCount());
    }

    /** {@code value} (null or blank: the CPU) checked against {@code gpuCount} visible GPUs. */
    static Device parse(String value, int gpuCount) {
        if (value == null || value.isBlank()) {
            return Device.cpu();
        }
        String v = value.trim().toLowerCase(Locale.ROOT);
        if (v.equals("cpu")) {
            return Device.cpu();
        }
        int id;
        if (v.equals("gpu") || v.equals("cuda")) {
            id = 0;
        } else if (v.matches("(gpu|cuda):\\d+")) {
            id = Integer.parseInt(v.substring(v.indexOf(':') + 1));
        } else {
            throw new IllegalStateException(
                    PROPERTY + "/" + ENV + " is '" + value + "'; expected cpu, gpu or gpu:N");
        }
        if (id >= gpuCount) {
            throw new IllegalStateException(
                    PROPERTY
                            + "/"
                            + ENV
                            + " asks for GPU "
                            + id
                            + " but the PyTorch engine sees "
                            + gpuCount
                            + " GPU(s) (a CUDA libtorch via PYTORCH_LIBRARY_PATH/PYTORCH_FLAVOR is needed)");
        }
        return Device.gpu(id);
    }
}
