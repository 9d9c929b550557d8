package io.peft4j.shadow;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;

/** Small array helpers shared by the shadow classes. */
final class Tensors {

    private Tensors() {}

    /** A trainable parameter holding {@code values}, on {@code device} in {@code type}. */
    static Parameter parameter(NDManager manager, String name, float[] values, Shape shape,
            DataType type, Device device) {
        NDArray array = manager.create(values, shape).toDevice(device, false);
        if (array.getDataType() != type) {
            array = array.toType(type, false);
        }
        array.attach(manager);
        Parameter p = Parameter.builder().setName(name).setType(Parameter.Type.WEIGHT).optArray(array).build();
        array.setRequiresGradient(true);
        return p;
    }

    static float[] gaussian(Random random, long n, double std) {
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (random.nextGaussian() * std);
        }
        return v;
    }

    static float[] uniform(Random random, long n, double bound) {
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
        }
        return v;
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

    static NDArray dropout(NDArray x, float p, boolean training) {
        return training && p > 0 ? Dropout.dropout(x, p, true).head() : x;
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
    static void validateAndCopy(String what, Map<String, Parameter> expected, Map<String, NDArray> tensors) {
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, Parameter> e : expected.entrySet()) {
            NDArray found = tensors.get(e.getKey());
            Shape want = e.getValue().getArray().getShape();
            if (found == null) {
                problems.add("missing tensor " + e.getKey() + " " + want);
            } else if (!found.getShape().equals(want)) {
                problems.add("tensor " + e.getKey() + " has shape " + found.getShape() + ", expected " + want);
            }
        }
        TreeSet<String> unexpected = new TreeSet<>(tensors.keySet());
        unexpected.removeAll(expected.keySet());
        for (String key : unexpected) {
            problems.add("unexpected tensor " + key);
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(what + " does not fit: "
                    + String.join("; ", problems.subList(0, Math.min(20, problems.size())))
                    + (problems.size() > 20 ? "; and " + (problems.size() - 20) + " more" : ""));
        }
        for (Map.Entry<String, Parameter> e : expected.entrySet()) {
            NDArray target = e.getValue().getArray();
            NDArray source = tensors.get(e.getKey());
            NDArray cast = source.toType(target.getDataType(), true);
            cast.copyTo(target);
            if (cast != source) {
                cast.close();
            }
        }
    }

    static NDList list(NDArray... arrays) {
        return new NDList(arrays);
    }
}
