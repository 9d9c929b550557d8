package io.peft4j.core.io;

import ai.djl.ndarray.types.DataType;

/**
 * The element types peft4j reads and writes in safetensors files, named exactly as they appear in
 * the header's {@code "dtype"} field.
 *
 * <p>Two types have no safe DJL counterpart: creating a {@code BFLOAT16} or {@code INT16} array
 * aborts the JVM with DJL 0.35 + PyTorch 2.7.1 (the JNI dtype switch only knows DJL's first nine
 * types). Their {@link #engineType()} is therefore a wider type that the reader converts to in
 * Java: BF16 to FLOAT32 (exact, a BF16 value is the top half of an F32) and I16 to INT32.
 */
public enum SafetensorsDType {
    /** IEEE 754 double. */
    F64(8, DataType.FLOAT64),
    /** IEEE 754 single. */
    F32(4, DataType.FLOAT32),
    /** IEEE 754 half. */
    F16(2, DataType.FLOAT16),
    /** bfloat16; loaded widened to FLOAT32. */
    BF16(2, DataType.FLOAT32),
    /** Signed 64-bit integer. */
    I64(8, DataType.INT64),
    /** Signed 32-bit integer. */
    I32(4, DataType.INT32),
    /** Signed 16-bit integer; loaded widened to INT32. */
    I16(2, DataType.INT32),
    /** Signed 8-bit integer. */
    I8(1, DataType.INT8),
    /** Unsigned 8-bit integer. */
    U8(1, DataType.UINT8),
    /** Boolean, one byte per element (0 or 1). */
    BOOL(1, DataType.BOOLEAN);

    private final int byteSize;
    private final DataType engineType;

    SafetensorsDType(int byteSize, DataType engineType) {
        this.byteSize = byteSize;
        this.engineType = engineType;
    }

    /**
     * Returns the number of bytes one element takes in the file.
     *
     * @return the element size in bytes
     */
    public int byteSize() {
        return byteSize;
    }

    /**
     * Returns the DJL type an array loaded from this dtype has. BF16 maps to FLOAT32 and I16 to
     * INT32 (widened in Java, see the class comment); every other dtype maps to its exact
     * counterpart.
     *
     * @return the DJL data type of loaded arrays
     */
    public DataType engineType() {
        return engineType;
    }

    /**
     * Returns whether this dtype holds floating-point numbers.
     *
     * @return true for F64, F32, F16 and BF16
     */
    public boolean isFloatingPoint() {
        return this == F64 || this == F32 || this == F16 || this == BF16;
    }

    /**
     * Parses a header {@code "dtype"} string. Matching is exact (case-sensitive), as in Hugging
     * Face's reader.
     *
     * @param s the dtype string, e.g. {@code "BF16"}
     * @return the dtype
     * @throws IllegalArgumentException if {@code s} is not one of the supported dtype names
     */
    public static SafetensorsDType fromHeader(String s) {
        if (s != null) {
            for (SafetensorsDType t : values()) {
                if (t.name().equals(s)) {
                    return t;
                }
            }
        }
        throw new IllegalArgumentException(
                "unknown or unsupported safetensors dtype '"
                        + s
                        + "', expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL");
    }

    /**
     * Returns the dtype an array of DJL type {@code type} is written as.
     *
     * @param type the array's data type
     * @return the matching safetensors dtype
     * @throws IllegalArgumentException if the type has no safetensors counterpart that peft4j
     *     writes (for example STRING, or the unsigned types wider than 8 bits)
     */
    public static SafetensorsDType fromEngineType(DataType type) {
        switch (type) {
            case FLOAT64:
                return F64;
            case FLOAT32:
                return F32;
            case FLOAT16:
                return F16;
            case INT64:
                return I64;
            case INT32:
                return I32;
            case INT8:
                return I8;
            case UINT8:
                return U8;
            case BOOLEAN:
                return BOOL;
            default:
                throw new IllegalArgumentException(
                        "cannot write an array of type "
                                + type
                                + " to safetensors, expected FLOAT64, FLOAT32, FLOAT16, INT64, INT32,"
                                + " INT8, UINT8 or BOOLEAN");
        }
    }
}
