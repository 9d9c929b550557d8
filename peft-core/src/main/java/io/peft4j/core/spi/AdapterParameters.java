package io.peft4j.core.spi;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import java.util.Random;

/**
 * Makes an adapter's trainable parameters, the same way for every method: each owned by the
 * adapter's manager and requiring gradients, made from an array the method computed, as a copy of a
 * base parameter, or from initial values drawn on the JVM from a seeded {@link Random} (so a seed
 * gives the same adapter on every device) and placed on the base weight's device in its type.
 */
public final class AdapterParameters {

    private AdapterParameters() {}

    /**
     * A trainable weight holding {@code values}.
     *
     * @param manager the adapter's manager, which owns the array
     * @param name the parameter's name
     * @param values the initial values, row-major
     * @param shape the shape; its size must equal {@code values.length}
     * @param type the data type of the array (the base weight's)
     * @param device the device of the array (the base weight's)
     * @return the parameter, its array set and requiring gradients
     */
    public static Parameter trainable(
            NDManager manager,
            String name,
            float[] values,
            Shape shape,
            DataType type,
            Device device) {
        // The host copy and a cast are intermediates: freed here, not kept in the adapter's
        // manager until the adapter closes (one extra copy of every adapter tensor otherwise).
        NDArray host = manager.create(values, shape);
        NDArray array = host.toDevice(device, false);
        if (array != host) {
            host.close();
        }
        if (array.getDataType() != type) {
            NDArray cast = array.toType(type, false);
            array.close();
            array = cast;
        }
        return trainable(manager, name, array);
    }

    /**
     * A trainable weight holding {@code array} itself (not a copy), which {@code manager} then
     * owns.
     *
     * @param manager the adapter's manager, which takes the array
     * @param name the parameter's name
     * @param array the initial values, in the type and on the device the parameter keeps
     * @return the parameter, its array set and requiring gradients
     */
    public static Parameter trainable(NDManager manager, String name, NDArray array) {
        return wrap(manager, name, Parameter.Type.WEIGHT, array);
    }

    /**
     * A trainable copy of {@code source}'s array, of the same parameter type (weight or bias): a
     * module trained in place of the original (peft's {@code modules_to_save}, a copied head).
     *
     * @param manager the adapter's manager, which owns the copy
     * @param name the copy's name
     * @param source the parameter to copy; must be initialised
     * @return the copy, requiring gradients
     */
    public static Parameter trainableCopy(NDManager manager, String name, Parameter source) {
        return wrap(manager, name, source.getType(), source.getArray().duplicate());
    }

    private static Parameter wrap(
            NDManager manager, String name, Parameter.Type type, NDArray array) {
        array.attach(manager);
        Parameter p = Parameter.builder().setName(name).setType(type).optArray(array).build();
        array.setRequiresGradient(true);
        return p;
    }

    /**
     * A trainable weight holding {@code values}, in the type and on the device of {@code like}.
     *
     * @param manager the adapter's manager, which owns the array
     * @param name the parameter's name
     * @param values the initial values, row-major
     * @param shape the shape; its size must equal {@code values.length}
     * @param like the base weight whose type and device the parameter takes
     * @return the parameter, its array set and requiring gradients
     */
    public static Parameter trainable(
            NDManager manager, String name, float[] values, Shape shape, NDArray like) {
        return trainable(manager, name, values, shape, like.getDataType(), like.getDevice());
    }

    /**
     * Normal values with mean 0.
     *
     * @param random the seeded source
     * @param n how many values
     * @param std the standard deviation
     * @return {@code n} values
     */
    public static float[] gaussian(Random random, long n, double std) {
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (random.nextGaussian() * std);
        }
        return v;
    }

    /**
     * Uniform values in {@code [-bound, bound)} (Kaiming-uniform when {@code bound = 1 /
     * sqrt(fan_in)}, as PyTorch's {@code nn.Linear} initialises).
     *
     * @param random the seeded source
     * @param n how many values
     * @param bound the half-width of the interval
     * @return {@code n} values
     */
    public static float[] uniform(Random random, long n, double bound) {
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
        }
        return v;
    }
}
