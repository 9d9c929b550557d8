package io.peft4j.core.io;

import static io.peft4j.core.io.SafetensorsTestFiles.concat;
import static io.peft4j.core.io.SafetensorsTestFiles.littleEndianFloats;
import static io.peft4j.core.io.SafetensorsTestFiles.littleEndianShorts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Files written byte by byte, as other tools (PyTorch checkpoints) write them. */
class SafetensorsHandWrittenTest {

    @TempDir Path dir;

    @Test
    void bf16IsWidenedToExactFloat32() throws IOException {
        // 1.0 = 0x3F80, -2.5 = 0xC020, 3.140625 = 0x4049, -0.0 = 0x8000, +inf = 0x7F80,
        // smallest bf16 subnormal 0x0001 = 2^-133, largest finite 0x7F7F.
        byte[] data =
                littleEndianShorts(0x3F80, 0xC020, 0x4049, 0x8000, 0x7F80, 0x0001, 0x7F7F, 0x7FC0);
        String header = "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[0,16]}}";
        Path file = SafetensorsTestFiles.write(dir, "bf16.safetensors", header, data);
        float[] expected = {
            1.0f,
            -2.5f,
            3.140625f,
            -0.0f,
            Float.POSITIVE_INFINITY,
            0x1p-133f,
            Float.intBitsToFloat(0x7F7F0000),
            Float.NaN
        };
        try (SafetensorsFile f = SafetensorsFile.open(file);
                NDManager m = NDManager.newBaseManager()) {
            assertEquals(SafetensorsDType.BF16, f.info("w").dtype());
            assertEquals(DataType.FLOAT32, SafetensorsDType.BF16.engineType());
            assertArrayEquals(expected, f.loadFloats("w"));
            NDArray w = f.load("w", m);
            assertEquals(DataType.FLOAT32, w.getDataType());
            assertEquals(new Shape(2, 4), w.getShape());
            assertEquals("w", w.getName());
            assertArrayEquals(expected, w.toFloatArray());
            assertEquals(
                    Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(w.toFloatArray()[3]));
            assertTrue(f.metadata().isEmpty());
        }
    }

    @Test
    void f16StaysF16AndDecodesExactly() throws IOException {
        // 1.0, -2.0, 65504 (max), 2^-24 (min subnormal), 2^-14 (min normal), -inf, 0.333251953125
        byte[] data =
                littleEndianShorts(0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0400, 0xFC00, 0x3555, 0x0000);
        String header =
                "{\"__metadata__\":{\"format\":\"pt\"},"
                        + "\"h\":{\"dtype\":\"F16\",\"shape\":[8],\"data_offsets\":[0,16]}}";
        Path file = SafetensorsTestFiles.write(dir, "f16.safetensors", header, data);
        float[] expected = {
            1f, -2f, 65504f, 0x1p-24f, 0x1p-14f, Float.NEGATIVE_INFINITY, 0.333251953125f, 0f
        };
        try (SafetensorsFile f = SafetensorsFile.open(file);
                NDManager m = NDManager.newBaseManager()) {
            assertArrayEquals(expected, f.loadFloats("h"));
            NDArray h = f.load("h", m);
            assertEquals(DataType.FLOAT16, h.getDataType());
            assertArrayEquals(expected, h.toType(DataType.FLOAT32, false).toFloatArray());
            assertEquals(Map.of("format", "pt"), f.metadata());
        }
    }

    @Test
    void f16DecoderAgreesWithTheEngineOnAll65536Patterns() {
        ByteBuffer all = ByteBuffer.allocateDirect(2 * 65536).order(ByteOrder.nativeOrder());
        for (int i = 0; i < 65536; i++) {
            all.putShort((short) i);
        }
        all.rewind();
        try (NDManager m = NDManager.newBaseManager()) {
            float[] engine =
                    m.create(all, new Shape(65536), DataType.FLOAT16)
                            .toType(DataType.FLOAT32, false)
                            .toFloatArray();
            for (int i = 0; i < 65536; i++) {
                float ours = HalfFloats.f16ToFloat((short) i);
                if (Float.isNaN(engine[i])) {
                    assertTrue(Float.isNaN(ours), "pattern " + Integer.toHexString(i));
                } else {
                    assertEquals(
                            Float.floatToRawIntBits(engine[i]),
                            Float.floatToRawIntBits(ours),
                            "pattern " + Integer.toHexString(i));
                }
            }
        }
    }

    @Test
    void i16IsWidenedToInt32AndBoolBytesAreNormalised() throws IOException {
        byte[] shorts = littleEndianShorts(-32768, -3, 0, 32767);
        byte[] bools = {0, 1, 2, (byte) 0xFF};
        byte[] f32 = littleEndianFloats(0.25f);
        // Offsets deliberately not in name order: the data order is the offsets', not the names'.
        String header =
                "{\"s\":{\"dtype\":\"I16\",\"shape\":[4],\"data_offsets\":[4,12]},"
                        + "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2,2],\"data_offsets\":[12,16]},"
                        + "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
        Path file =
                SafetensorsTestFiles.write(
                        dir, "mixed.safetensors", header, concat(f32, shorts, bools));
        try (SafetensorsFile f = SafetensorsFile.open(file);
                NDManager m = NDManager.newBaseManager()) {
            assertEquals(List.of("a", "b", "s"), f.names());
            NDArray s = f.load("s", m);
            assertEquals(DataType.INT32, s.getDataType());
            assertArrayEquals(new int[] {-32768, -3, 0, 32767}, s.toIntArray());
            NDArray b = f.load("b", m);
            assertEquals(DataType.BOOLEAN, b.getDataType());
            assertArrayEquals(new boolean[] {false, true, true, true}, b.toBooleanArray());
            NDArray a = f.load("a", m);
            assertEquals(new Shape(), a.getShape());
            assertEquals(0.25f, a.getFloat());
            assertEquals(
                    new TensorInfo("s", SafetensorsDType.I16, new long[] {4}, 4, 12), f.info("s"));
        }
    }

    @Test
    void unknownTensorFieldsAndNullMetadataAreAcceptedAsHuggingFaceDoes() throws IOException {
        String header =
                "{\"__metadata__\":null,"
                        + "\"x\":{\"extra\":{\"deep\":[1,[2,{\"k\":\"v\"}]]},\"dtype\":\"I8\",\"shape\":[3],"
                        + "\"data_offsets\":[0,3]}}    ";
        Path file =
                SafetensorsTestFiles.write(
                        dir, "lenient.safetensors", header, new byte[] {1, -2, 3});
        try (SafetensorsFile f = SafetensorsFile.open(file);
                NDManager m = NDManager.newBaseManager()) {
            assertTrue(f.metadata().isEmpty());
            assertArrayEquals(new byte[] {1, -2, 3}, f.load("x", m).toByteArray());
        }
    }

    @Test
    void emptyFileOfTensorsIsValid() throws IOException {
        Path file = SafetensorsTestFiles.write(dir, "none.safetensors", "{}", new byte[0]);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertTrue(f.names().isEmpty());
            assertTrue(f.metadata().isEmpty());
        }
    }
}
