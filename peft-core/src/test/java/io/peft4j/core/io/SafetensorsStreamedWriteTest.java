package io.peft4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link SafetensorsWriter#writeStreamed}: BF16 bytes produced on demand, read back widened. */
class SafetensorsStreamedWriteTest {

    @TempDir Path dir;

    private static byte[] bf16(float... values) {
        byte[] out = new byte[2 * values.length];
        for (int i = 0; i < values.length; i++) {
            int bits =
                    Float.floatToRawIntBits(values[i])
                            >>> 16; // exact: the values have 8-bit mantissas
            out[2 * i] = (byte) bits;
            out[2 * i + 1] = (byte) (bits >>> 8);
        }
        return out;
    }

    @Test
    void streamedBf16TensorsReadBackAsTheirFloats() throws IOException {
        float[] a = {1f, -2f, 0.5f, 3.25f, -0.125f, 96f};
        float[] b = {7f, -1.5f};
        Map<String, SafetensorsWriter.StreamedTensor> tensors = new LinkedHashMap<>();
        tensors.put(
                "z.weight",
                new SafetensorsWriter.StreamedTensor(
                        SafetensorsDType.BF16, new long[] {2, 3}, out -> out.write(bf16(a))));
        tensors.put(
                "a.bias",
                new SafetensorsWriter.StreamedTensor(
                        SafetensorsDType.BF16, new long[] {2}, out -> out.write(bf16(b))));
        Path file = dir.resolve("s.safetensors");
        SafetensorsWriter.writeStreamed(file, tensors, Map.of());
        // chunk of 8 bytes: the widening goes through several pieces and flat views
        try (SafetensorsFile f = SafetensorsFile.open(file, 8);
                NDManager m = NDManager.newBaseManager()) {
            assertEquals(java.util.List.of("a.bias", "z.weight"), f.names());
            assertEquals(Map.of("format", "pt"), f.metadata());
            NDArray z = f.load("z.weight", m);
            assertEquals(DataType.FLOAT32, z.getDataType());
            assertArrayEquals(new long[] {2, 3}, z.getShape().getShape());
            assertArrayEquals(a, z.toFloatArray(), 0f);
            assertArrayEquals(b, f.load("a.bias", m).toFloatArray(), 0f);
            assertArrayEquals(a, f.loadFloats("z.weight"), 0f);
        }
    }

    @Test
    void aProducerThatWritesTheWrongSizeFailsAndLeavesNoFile() {
        Path file = dir.resolve("bad.safetensors");
        Map<String, SafetensorsWriter.StreamedTensor> tensors =
                Map.of(
                        "w",
                        new SafetensorsWriter.StreamedTensor(
                                SafetensorsDType.BF16,
                                new long[] {4},
                                out -> out.write(bf16(1f, 2f, 3f))));
        IOException e =
                assertThrows(
                        IOException.class,
                        () -> SafetensorsWriter.writeStreamed(file, tensors, Map.of()));
        assertTrue(
                e.getMessage().contains("'w'") && e.getMessage().contains("6 bytes, expected 8"),
                e.getMessage());
        assertTrue(Files.notExists(file));
    }
}
