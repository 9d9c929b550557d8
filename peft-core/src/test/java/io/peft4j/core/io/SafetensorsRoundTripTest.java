package io.peft4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsRoundTripTest {

    @TempDir Path dir;

    @Test
    void everyWritableDtypeRoundTripsExactly() throws IOException {
        Path file = dir.resolve("all.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> in = new LinkedHashMap<>();
            in.put(
                    "f64",
                    m.create(
                            new double[] {1.5, -2.25, Math.PI, 1e-300, -0.0, 1e300},
                            new Shape(2, 3)));
            in.put(
                    "f32",
                    m.create(
                            new float[] {1f, -2.5f, Float.MIN_VALUE, Float.MAX_VALUE},
                            new Shape(4)));
            in.put(
                    "f16",
                    m.create(
                                    new float[] {1f, -2f, 0.5f, 65504f, 0.000061035156f, 3.140625f},
                                    new Shape(3, 2))
                            .toType(DataType.FLOAT16, false));
            in.put(
                    "i64",
                    m.create(new long[] {Long.MIN_VALUE, -1, 0, Long.MAX_VALUE}, new Shape(2, 2)));
            in.put(
                    "i32",
                    m.create(
                            new int[] {Integer.MIN_VALUE, -7, 42, Integer.MAX_VALUE},
                            new Shape(1, 4)));
            in.put("i8", m.create(new byte[] {-128, -1, 0, 127}, new Shape(4)));
            in.put(
                    "u8",
                    m.create(
                            java.nio.ByteBuffer.wrap(new byte[] {0, 1, (byte) 200, (byte) 255}),
                            new Shape(2, 2),
                            DataType.UINT8));
            in.put("bool", m.create(new boolean[] {true, false, false, true, true}, new Shape(5)));
            SafetensorsWriter.write(file, in, Map.of("peft_type", "LORA"));

            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                assertEquals(
                        List.of("bool", "f16", "f32", "f64", "i32", "i64", "i8", "u8"), f.names());
                assertEquals(Map.of("format", "pt", "peft_type", "LORA"), f.metadata());
                for (Map.Entry<String, NDArray> e : in.entrySet()) {
                    NDArray expected = e.getValue();
                    NDArray actual = f.load(e.getKey(), m);
                    assertEquals(e.getKey(), actual.getName());
                    assertEquals(expected.getDataType(), actual.getDataType(), e.getKey());
                    assertEquals(expected.getShape(), actual.getShape(), e.getKey());
                    assertArrayEquals(bytes(expected), bytes(actual), e.getKey());
                    TensorInfo info = f.info(e.getKey());
                    assertEquals(
                            SafetensorsDType.fromEngineType(expected.getDataType()), info.dtype());
                    assertArrayEquals(expected.getShape().getShape(), info.shape());
                }
                assertEquals(SafetensorsDType.I8, f.info("i8").dtype());
                assertArrayEquals(
                        new double[] {1.5, -2.25, Math.PI, 1e-300, -0.0, 1e300},
                        f.load("f64", m).toDoubleArray());
                assertArrayEquals(
                        new boolean[] {true, false, false, true, true},
                        f.load("bool", m).toBooleanArray());
            }
        }
    }

    @Test
    void loadFloatsReadsEveryFloatDtype() throws IOException {
        Path file = dir.resolve("floats.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            float[] values = {0f, -1.5f, 2.75f, 1024f};
            SafetensorsWriter.write(
                    file,
                    Map.of(
                            "d", m.create(new double[] {0, -1.5, 2.75, 1024}),
                            "f", m.create(values),
                            "h", m.create(values).toType(DataType.FLOAT16, false),
                            "i", m.create(new int[] {1, 2})),
                    null);
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                assertArrayEquals(values, f.loadFloats("d"));
                assertArrayEquals(values, f.loadFloats("f"));
                assertArrayEquals(values, f.loadFloats("h"));
                IllegalArgumentException e =
                        assertThrows(IllegalArgumentException.class, () -> f.loadFloats("i"));
                assertTrue(e.getMessage().contains("'i' is I32"), e.getMessage());
                assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
            }
        }
    }

    @Test
    void scalarsEmptyTensorsAndNonContiguousArrays() throws IOException {
        Path file = dir.resolve("shapes.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray matrix = m.arange(12f).reshape(3, 4);
            NDArray transposed = matrix.transpose(); // a strided view, not contiguous
            NDArray slice = matrix.get(":, 1:3");
            SafetensorsWriter.write(
                    file,
                    Map.of(
                            "scalar", m.create(7.5f),
                            "empty", m.create(new float[0], new Shape(0)),
                            "empty3", m.zeros(new Shape(2, 0, 3), DataType.INT64),
                            "t", transposed,
                            "slice", slice),
                    Map.of());
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                assertEquals(new Shape(), f.load("scalar", m).getShape());
                assertEquals(7.5f, f.load("scalar", m).getFloat());
                assertEquals(1, f.info("scalar").numel());
                assertEquals(new Shape(0), f.load("empty", m).getShape());
                assertEquals(0, f.info("empty").numel());
                NDArray e3 = f.load("empty3", m);
                assertEquals(new Shape(2, 0, 3), e3.getShape());
                assertEquals(DataType.INT64, e3.getDataType());
                assertArrayEquals(transposed.toFloatArray(), f.load("t", m).toFloatArray());
                assertArrayEquals(
                        new float[] {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}, f.loadFloats("t"));
                assertArrayEquals(new float[] {1, 2, 5, 6, 9, 10}, f.loadFloats("slice"));
            }
        }
    }

    @Test
    void chunkedWriteAndChunkedReadAgreeWithWholeTensorPaths() throws IOException {
        Path whole = dir.resolve("whole.safetensors");
        Path sliced = dir.resolve("sliced.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray big = m.randomNormal(new Shape(7, 13)); // 91 floats: uneven against the chunks
            NDArray half = big.toType(DataType.FLOAT16, false);
            NDArray longs = m.arange(0, 37, 1, DataType.INT64).reshape(37);
            Map<String, NDArray> tensors = Map.of("big", big, "half", half, "longs", longs);
            SafetensorsWriter.write(whole, tensors, null);
            SafetensorsWriter.write(sliced, tensors, null, 24); // 24-byte slices
            assertArrayEquals(
                    java.nio.file.Files.readAllBytes(whole),
                    java.nio.file.Files.readAllBytes(sliced));

            try (SafetensorsFile f = SafetensorsFile.open(whole, 16)) { // 16-byte read chunks
                NDArray b = f.load("big", m);
                assertEquals(new Shape(7, 13), b.getShape());
                assertArrayEquals(big.toFloatArray(), b.toFloatArray());
                assertArrayEquals(big.toFloatArray(), f.loadFloats("big"));
                assertArrayEquals(half.toFloatArray(), f.load("half", m).toFloatArray());
                assertArrayEquals(half.toFloatArray(), f.loadFloats("half"));
                assertArrayEquals(longs.toLongArray(), f.load("longs", m).toLongArray());
                assertEquals("big", b.getName());
            }
        }
    }

    @Test
    void writingLeavesNoArraysBehindInTheCallersManager() throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray matrix = m.randomNormal(new Shape(16, 9));
            NDArray transposed = matrix.transpose();
            int before = m.getManagedArrays().size();
            Map<String, NDArray> tensors = Map.of("m", matrix, "t", transposed);
            SafetensorsWriter.write(dir.resolve("whole.safetensors"), tensors, null);
            SafetensorsWriter.write(dir.resolve("sliced.safetensors"), tensors, null, 40);
            assertEquals(before, m.getManagedArrays().size());
            try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("sliced.safetensors"), 24);
                    NDManager loads = m.newSubManager()) {
                f.load("t", loads); // chunked: pieces and the concatenation must not linger
                assertEquals(1, loads.getManagedArrays().size());
                assertArrayEquals(
                        transposed.toFloatArray(), loads.getManagedArrays().get(0).toFloatArray());
            }
        }
    }

    @Test
    void loadedArraysOutliveTheFileAndClosedFilesRefuseLoads() throws IOException {
        Path file = dir.resolve("x.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            SafetensorsWriter.write(file, Map.of("w", m.create(new float[] {1, 2, 3})), null);
            SafetensorsFile f = SafetensorsFile.open(file);
            NDArray w = f.load("w", m);
            f.close();
            java.nio.file.Files.delete(file);
            assertArrayEquals(new float[] {2, 4, 6}, w.mul(2).toFloatArray());
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, () -> f.load("w", m));
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> f.loadFloats("w"));
        }
    }

    @Test
    void unknownNameIsReportedWithTheFileAndSomeNames() throws IOException {
        Path file = dir.resolve("names.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            for (int i = 0; i < 8; i++) {
                tensors.put("layer." + i, m.create(new float[] {i}));
            }
            SafetensorsWriter.write(file, tensors, null);
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                IllegalArgumentException e =
                        assertThrows(IllegalArgumentException.class, () -> f.load("layer.9", m));
                String msg = e.getMessage();
                assertTrue(msg.contains(file.toString()), msg);
                assertTrue(msg.contains("'layer.9'"), msg);
                assertTrue(msg.contains("8 tensors"), msg);
                assertTrue(msg.contains("layer.0, layer.1"), msg);
                assertTrue(f.contains("layer.7"));
            }
        }
    }

    @Test
    void writerRejectsReservedNamesAndUnsupportedTypesBeforeWriting() throws IOException {
        Path file = dir.resolve("bad.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray ok = m.create(new float[] {1});
            IllegalArgumentException reserved =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> SafetensorsWriter.write(file, Map.of("__metadata__", ok), null));
            assertTrue(reserved.getMessage().contains("reserved"), reserved.getMessage());
            NDArray closed = m.create(new float[] {1});
            closed.close();
            assertThrows(
                    IllegalArgumentException.class,
                    () -> SafetensorsWriter.write(file, Map.of("c", closed), null));
            assertTrue(java.nio.file.Files.notExists(file));
            try (java.util.stream.Stream<Path> left = java.nio.file.Files.list(dir)) {
                assertEquals(0, left.count());
            }
        }
    }

    private static byte[] bytes(NDArray a) {
        java.nio.ByteBuffer b = a.toByteBuffer();
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }
}
