package io.peft4j.shadow;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.spi.AdapterParameters;
import io.peft4j.core.spi.AdapterTensors;
import java.util.Map;
import java.util.Random;

/** Small array helpers shared by the shadow classes. */
final class Tensors {

    private Tensors() {}

    /**
     * A trainable {@code out x in} linear weight drawn as PyTorch's {@code nn.Linear} initialises
     * one: uniform in {@code +-1/sqrt(in)}.
     */
    static Parameter linearWeight(
            NDManager manager,
            String name,
            Random random,
            long out,
            long in,
            DataType type,
            Device device) {
        return AdapterParameters.trainable(
                manager,
                name,
                AdapterParameters.uniform(random, out * in, 1 / Math.sqrt((double) in)),
                new Shape(out, in),
                type,
                device);
    }

    static float[] filled(long n, float value) {
        float[] v = new float[Math.toIntExact(n)];
        java.util.Arrays.fill(v, value);
        return v;
    }

    /** {@code x W^T (+ b)} with W (out, in). */
    static NDArray linear(NDArray x, NDArray w, NDArray b) {
        return Linear.linear(x, w, b).head();
    }

    static NDArray silu(NDArray x) {
        return x.mul(x.getNDArrayInternal().sigmoid());
    }

    /** Most negative value safe to add to attention scores of this type (as peft-models' masks). */
    static float maskValue(DataType type) {
        return type == DataType.FLOAT16 ? -1e4f : -1e9f;
    }

    /**
     * Checks that {@code tensors} has exactly the keys of {@code expected} with their shapes, then
     * copies the values in. Nothing is copied when anything is wrong.
     *
     * @param what names the owner in error messages
     */
    static void validateAndCopy(
            String what, Map<String, Parameter> expected, Map<String, NDArray> tensors) {
        AdapterTensors.check(what, AdapterTensors.specsOf(expected, Map.of(), ""), tensors);
        expected.forEach((k, p) -> AdapterTensors.copy(tensors.get(k), p.getArray()));
    }

    static NDList list(NDArray... arrays) {
        return new NDList(arrays);
    }
}
