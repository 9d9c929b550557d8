package io.peft4j.core.io;

import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor's header entry in a safetensors file.
 *
 * @param name the tensor's name (its header key)
 * @param dtype the element type as stored in the file
 * @param shape the dimensions; empty for a scalar. The record copies it in and out, so it cannot be
 *     changed from outside
 * @param begin first byte of the tensor's data, relative to the start of the data region (the byte
 *     after the header), as in the header's {@code data_offsets}
 * @param end one past the last byte, relative to the data region
 */
public record TensorInfo(String name, SafetensorsDType dtype, long[] shape, long begin, long end) {

    /**
     * Validates the arguments and copies {@code shape}.
     *
     * @param name the tensor's name (its header key)
     * @param dtype the element type as stored in the file
     * @param shape the dimensions; empty for a scalar
     * @param begin first byte of the tensor's data, relative to the data region
     * @param end one past the last byte, relative to the data region
     * @throws NullPointerException if {@code name}, {@code dtype} or {@code shape} is null
     * @throws IllegalArgumentException if a dimension is negative, or unless {@code 0 <= begin <=
     *     end}
     */
    public TensorInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(shape, "shape");
        shape = shape.clone();
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException(
                        "tensor '"
                                + name
                                + "': negative dimension in shape "
                                + Arrays.toString(shape));
            }
        }
        if (begin < 0 || end < begin) {
            throw new IllegalArgumentException(
                    "tensor '"
                            + name
                            + "': data_offsets ["
                            + begin
                            + ", "
                            + end
                            + "] must satisfy 0 <= begin <= end");
        }
    }

    /**
     * Returns a copy of the shape.
     *
     * @return the dimensions
     */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /**
     * Returns the number of elements (1 for a scalar).
     *
     * @return the product of the dimensions
     * @throws ArithmeticException if the product overflows a long (never for an entry of a file
     *     that {@link SafetensorsFile#open} accepted)
     */
    public long numel() {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /**
     * Returns the number of data bytes, {@code end - begin}.
     *
     * @return the byte length
     */
    public long byteLength() {
        return end - begin;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t
                && name.equals(t.name)
                && dtype == t.dtype
                && Arrays.equals(shape, t.shape)
                && begin == t.begin
                && end == t.end;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
    }

    @Override
    public String toString() {
        return "TensorInfo["
                + name
                + ", "
                + dtype
                + ", shape="
                + Arrays.toString(shape)
                + ", data_offsets=["
                + begin
                + ", "
                + end
                + "]]";
    }
}
