package io.peft4j.spark;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collection;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * Moves the trainable gradients between NDArrays and the text messages of Spark's {@code
 * allGather}: float32, little-endian, concatenated in the model's parameter order, base64 (the
 * collective carries strings; base64 adds a third to the raw bytes).
 */
final class GradientCodec {

    private GradientCodec() {}

    /** The number of values the trainable parameters hold together. */
    static long count(Collection<Parameter> params) {
        long n = 0;
        for (Parameter p : params) {
            n += p.getArray().size();
        }
        return n;
    }

    /** Concatenates the parameters' gradients (float32 only; adapters train in float32 here). */
    static float[] gradients(Map<String, Parameter> params) {
        float[] all = new float[Math.toIntExact(count(params.values()))];
        int offset = 0;
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            NDArray array = e.getValue().getArray();
            checkFloat32(e.getKey(), array);
            float[] values;
            if (array.hasGradient()) {
                try (NDArray grad = array.getGradient()) {
                    values = grad.toFloatArray();
                }
            } else {
                values = new float[Math.toIntExact(array.size())];
            }
            System.arraycopy(values, 0, all, offset, values.length);
            offset += values.length;
        }
        return all;
    }

    /**
     * Writes {@code values} (as made by {@link #gradients}) into the parameters' gradients in
     * place. An indexed copy from a scratch array, not {@code NDArray.set(Buffer)}: DJL's set on a
     * CPU array makes the tensor use the buffer's memory and keeps the buffer alive only through
     * that Java handle, and a gradient handle is temporary, so after a GC the gradient would point
     * into freed memory (seen as SIGSEGVs in libc a few dozen steps in).
     */
    static void setGradients(Map<String, Parameter> params, float[] values) {
        int offset = 0;
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            NDArray array = e.getValue().getArray();
            int n = Math.toIntExact(array.size());
            if (array.hasGradient()) {
                try (NDManager scratch = array.getManager().newSubManager()) {
                    NDArray grad = array.getGradient();
                    grad.attach(scratch);
                    NDArray mean =
                            scratch.create(
                                    Arrays.copyOfRange(values, offset, offset + n),
                                    array.getShape());
                    grad.set(new NDIndex("..."), mean);
                }
            }
            offset += n;
        }
        if (offset != values.length) {
            throw new IllegalStateException(
                    "gradient message holds "
                            + values.length
                            + " values but the model trains "
                            + offset);
        }
    }

    static String encode(float[] values) {
        ByteBuffer bytes =
                ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(values);
        return Base64.getEncoder().encodeToString(bytes.array());
    }

    static float[] decode(String text) {
        byte[] raw = Base64.getDecoder().decode(text);
        if (raw.length % Float.BYTES != 0) {
            throw new IllegalArgumentException(
                    "gradient message of " + raw.length + " bytes is not whole float32 values");
        }
        FloatBuffer floats = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        float[] values = new float[floats.remaining()];
        floats.get(values);
        return values;
    }

    /** A CRC-32C of the parameters' values in order (names included), to compare replicas. */
    static String hash(Map<String, Parameter> params) {
        CRC32C crc = new CRC32C();
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            crc.update(e.getKey().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            crc.update(e.getValue().getArray().toByteBuffer());
        }
        return Long.toHexString(crc.getValue());
    }

    private static void checkFloat32(String name, NDArray array) {
        if (array.getDataType() != DataType.FLOAT32) {
            throw new IllegalArgumentException(
                    "trainable tensor '"
                            + name
                            + "' is "
                            + array.getDataType()
                            + "; the gradient exchange carries float32 only");
        }
    }
}
