package io.peft4j.core.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * Scalar arithmetic that is safe on an autograd path.
 *
 * <p>DJL 0.35's {@code NDArray.mul(Number)} (and {@code div}, {@code pow}, ...) wraps the number in
 * a tensor made with {@code torch::from_blob} over a Java direct buffer and closes it at once. When
 * autograd saved that tensor for backward (a product needs its other factor), a garbage collection
 * between forward and backward frees the buffer and the gradient reads whatever memory is there
 * now: measured here, 123 of 200 gradients of {@code x.mul(2.5f)} came out wrong with a GC between
 * forward and backward. A scalar made by {@code NDManager.full} lives in torch-owned memory and is
 * safe. Use these in any code that may run under a gradient collector.
 */
public final class Scalars {

    private Scalars() {}

    /**
     * A 0-d array of {@code value} in torch-owned memory, with {@code like}'s type and device.
     *
     * @param like the array whose manager, data type and device the scalar takes
     * @param value the scalar's value
     * @return a new 0-d array holding {@code value}; the caller closes it
     */
    public static NDArray scalar(NDArray like, double value) {
        NDArray s = like.getManager().full(new Shape(), (float) value, like.getDataType());
        if (!s.getDevice().equals(like.getDevice())) {
            NDArray moved = s.toDevice(like.getDevice(), false);
            s.close();
            return moved;
        }
        return s;
    }

    /**
     * {@code x * value}.
     *
     * @param x the array
     * @param value the scalar operand
     * @return a new array, {@code x * value} elementwise
     */
    public static NDArray mul(NDArray x, double value) {
        try (NDArray s = scalar(x, value)) {
            return x.mul(s);
        }
    }

    /**
     * {@code x / value}.
     *
     * @param x the array
     * @param value the scalar operand
     * @return a new array, {@code x / value} elementwise
     */
    public static NDArray div(NDArray x, double value) {
        try (NDArray s = scalar(x, value)) {
            return x.div(s);
        }
    }

    /**
     * {@code x + value}.
     *
     * @param x the array
     * @param value the scalar operand
     * @return a new array, {@code x + value} elementwise
     */
    public static NDArray add(NDArray x, double value) {
        try (NDArray s = scalar(x, value)) {
            return x.add(s);
        }
    }

    /**
     * {@code x - value}.
     *
     * @param x the array
     * @param value the scalar operand
     * @return a new array, {@code x - value} elementwise
     */
    public static NDArray sub(NDArray x, double value) {
        try (NDArray s = scalar(x, value)) {
            return x.sub(s);
        }
    }

    /**
     * {@code x ^ value}.
     *
     * @param x the array
     * @param value the scalar operand
     * @return a new array, {@code x ^ value} elementwise
     */
    public static NDArray pow(NDArray x, double value) {
        try (NDArray s = scalar(x, value)) {
            return x.pow(s);
        }
    }
}
