package io.peft4j.core.io;

/**
 * Bit-level conversions of 16-bit floats; Java 17 has no {@code Float.float16ToFloat}. Every reader
 * of half-precision data (safetensors, ONNX initializers) widens through here.
 */
public final class HalfFloats {

    private HalfFloats() {}

    /**
     * bfloat16 to binary32. A bfloat16 is the upper half of a float32, so widening is exact.
     *
     * @param bits the bfloat16's 16 bits
     * @return the same value as a float
     */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /**
     * IEEE 754 binary16 to binary32, exact for every input including subnormals, inf and NaN.
     *
     * @param bits the half's 16 bits
     * @return the same value as a float
     */
    public static float f16ToFloat(short bits) {
        int h = bits & 0xFFFF;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1F;
        int mantissa = h & 0x3FF;
        if (exponent == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F80_0000 | (mantissa << 13));
        }
        if (exponent == 0) {
            // zero or subnormal: mantissa * 2^-24, exactly representable in float32
            float magnitude = mantissa * 0x1p-24f;
            return sign != 0 ? -magnitude : magnitude;
        }
        // rebias 15 -> 127
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }
}
