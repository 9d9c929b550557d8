package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.io.SafetensorsFile;
import io.peft4j.core.testing.ManagedTest;
import io.peft4j.core.tree.AdapterWrapper;
import io.peft4j.core.tree.ModuleTree;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Adapter files byte-compatible with Hugging Face peft, both ways. */
class HfAdapterFilesTest extends ManagedTest {

    private static final String Q0 = "base_model.model.layers.0.self_attn.q_proj";
    private static final String Q1 = "base_model.model.layers.1.self_attn.q_proj";

    @TempDir Path tmp;

    private static float[] values(int n, float step, float offset) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = offset + step * i;
        }
        return v;
    }

    /**
     * The bytes HF's safetensors writes: u64 header length, compact JSON padded with spaces, data.
     */
    static byte[] hfSafetensors(Map<String, float[]> tensors, Map<String, long[]> shapes) {
        StringBuilder json = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        long offset = 0;
        for (Map.Entry<String, float[]> e : new TreeMap<>(tensors).entrySet()) {
            long bytes = 4L * e.getValue().length;
            long[] s = shapes.get(e.getKey());
            json.append(",\"")
                    .append(e.getKey())
                    .append("\":{\"dtype\":\"F32\",\"shape\":[")
                    .append(s[0])
                    .append(',')
                    .append(s[1])
                    .append("],\"data_offsets\":[")
                    .append(offset)
                    .append(',')
                    .append(offset + bytes)
                    .append("]}");
            offset += bytes;
        }
        json.append('}');
        while ((json.length() + 8) % 8 != 0) {
            json.append(' ');
        }
        byte[] header = json.toString().getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer len =
                ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length);
        out.writeBytes(len.array());
        out.writeBytes(header);
        for (float[] v : new TreeMap<>(tensors).values()) {
            ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : v) {
                b.putFloat(f);
            }
            out.writeBytes(b.array());
        }
        return out.toByteArray();
    }

    private Path writeHfAdapter(int fileRank, int configRank) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("hf"));
        Map<String, float[]> tensors = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (String m : new String[] {Q0, Q1}) {
            tensors.put(m + ".lora_A.weight", values(fileRank * 16, 0.01f, -0.1f));
            shapes.put(m + ".lora_A.weight", new long[] {fileRank, 16});
            tensors.put(m + ".lora_B.weight", values(16 * fileRank, -0.02f, 0.3f));
            shapes.put(m + ".lora_B.weight", new long[] {16, fileRank});
        }
        Files.write(dir.resolve("adapter_model.safetensors"), hfSafetensors(tensors, shapes));
        String config =
                LoraConfigJsonTest.HF_CONFIG
                        .replace("\"r\": 4", "\"r\": " + configRank)
                        .replace("\"lora_alpha\": 16", "\"lora_alpha\": 4")
                        .replace("\"v_proj\",\n    \"q_proj\"", "\"q_proj\"");
        Files.writeString(dir.resolve("adapter_config.json"), config);
        return dir;
    }

    @Test
    void loadsTheBytesHfPeftWritesAndComputesItsFormula() throws Exception {
        Path dir = writeHfAdapter(2, 2);
        Block base = TestModels.transformer(manager, 1);
        NDArray x = manager.randomNormal(new Shape(3, 16));
        NDArray w =
                ModuleTree.of(base)
                        .get("layers.0.self_attn.q_proj")
                        .block()
                        .getDirectParameters()
                        .get("weight")
                        .getArray()
                        .duplicate();
        try (PeftModel peft = PeftModel.load(base, dir)) {
            LoraConfig config = (LoraConfig) peft.config(PeftModel.DEFAULT_ADAPTER);
            assertEquals(2, config.rank());
            Block layer = ModuleTree.of(base).get("layers.0.self_attn.q_proj").block();
            assertTrue(layer instanceof LoraLinear);
            NDArray a = manager.create(values(32, 0.01f, -0.1f), new Shape(2, 16));
            NDArray b = manager.create(values(32, -0.02f, 0.3f), new Shape(16, 2));
            NDArray expected =
                    x.matMul(w.transpose())
                            .add(x.matMul(a.transpose()).matMul(b.transpose()).mul(4f / 2));
            NDArray got =
                    layer.forward(new ParameterStore(manager, false), new NDList(x), false).head();
            assertTrue(TestModels.maxAbsDiff(got, expected) < 1e-5, "y = W x + (alpha/r) B A x");

            Path out = tmp.resolve("ours");
            peft.baseModelName("stories260K").save(out);
            try (SafetensorsFile theirs =
                            SafetensorsFile.open(dir.resolve("adapter_model.safetensors"));
                    SafetensorsFile ours =
                            SafetensorsFile.open(out.resolve("adapter_model.safetensors"))) {
                assertEquals(theirs.names(), ours.names());
                for (String name : theirs.names()) {
                    assertArrayEquals(theirs.loadFloats(name), ours.loadFloats(name), name);
                    assertArrayEquals(theirs.info(name).shape(), ours.info(name).shape(), name);
                }
                assertEquals(Map.of("format", "pt"), ours.metadata());
            }
            byte[] raw = Files.readAllBytes(out.resolve("adapter_model.safetensors"));
            long headerLength = ByteBuffer.wrap(raw, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, (8 + headerLength) % 8, "header padded to 8 bytes");
            JsonObject json =
                    JsonParser.parseString(Files.readString(out.resolve("adapter_config.json")))
                            .getAsJsonObject();
            assertEquals("LORA", json.get("peft_type").getAsString());
            assertEquals(2, json.get("r").getAsInt());
            assertEquals(4, json.get("lora_alpha").getAsInt());
            assertEquals("q_proj", json.getAsJsonArray("target_modules").get(0).getAsString());
            assertEquals("stories260K", json.get("base_model_name_or_path").getAsString());
            assertTrue(json.get("inference_mode").getAsBoolean());
            for (String key :
                    new String[] {
                        "lora_dropout", "use_rslora", "bias", "fan_in_fan_out", "task_type"
                    }) {
                assertTrue(json.has(key), key);
            }
        }
    }

    @Test
    void anAdapterThatDoesNotFitIsRefusedAndTheModelIsUnchanged() throws Exception {
        Path dir = writeHfAdapter(2, 3); // config says r=3, tensors have r=2
        Block base = TestModels.transformer(manager, 1);
        NDList x = TestModels.input(TestModels.Kind.TRANSFORMER, manager, 1);
        NDArray before =
                base.forward(new ParameterStore(manager, false), x, false).head().duplicate();
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> PeftModel.load(base, dir));
        assertTrue(
                e.getMessage().contains(Q0 + ".lora_A.weight")
                        && e.getMessage().contains("(2, 16)")
                        && e.getMessage().contains("(3, 16)"),
                e.getMessage());
        assertTrue(e.getMessage().contains("adapter_model.safetensors"), e.getMessage());
        assertTrue(
                ModuleTree.of(base).nodes().stream()
                        .noneMatch(n -> n.block() instanceof AdapterWrapper));
        NDArray after = base.forward(new ParameterStore(manager, false), x, false).head();
        assertEquals(0f, TestModels.maxAbsDiff(after, before));
    }

    @Test
    void aConfigWithoutPeftTypeOrForAnUnknownMethodIsNamed() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("bad"));
        Files.writeString(dir.resolve("adapter_config.json"), "{\"r\": 4}");
        Block base = TestModels.transformer(manager, 1);
        assertTrue(
                assertThrows(java.io.IOException.class, () -> PeftModel.load(base, dir))
                        .getMessage()
                        .contains("peft_type"));
        Files.writeString(dir.resolve("adapter_config.json"), "{\"peft_type\": \"IA3\"}");
        String msg =
                assertThrows(java.io.IOException.class, () -> PeftModel.load(base, dir))
                        .getMessage();
        assertTrue(msg.contains("IA3") && msg.contains("LORA"), msg);
        Files.writeString(dir.resolve("adapter_config.json"), "{\"peft_type\": ");
        assertTrue(
                assertThrows(java.io.IOException.class, () -> PeftModel.load(base, dir))
                        .getMessage()
                        .contains("not valid JSON"));
    }

    @Test
    void aTargetThatMatchesNothingListsClosestPaths() {
        Block base = TestModels.transformer(manager, 1);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> PeftModel.wrap(base, LoraConfig.builder().targets("query").build()));
        assertTrue(
                e.getMessage().contains("query")
                        && e.getMessage().contains("Closest existing paths"),
                e.getMessage());
    }

    @Test
    void modulesToSaveAreSavedUnderPeftsKeysAndCheckedOnAdd() throws Exception {
        Block base = TestModels.transformer(manager, 1);
        Path out = tmp.resolve("mts");
        try (PeftModel peft =
                PeftModel.wrap(
                        base,
                        LoraConfig.builder()
                                .rank(2)
                                .targets("q_proj")
                                .modulesToSave(java.util.List.of("lm_head"))
                                .build())) {
            peft.save(out);
        }
        try (SafetensorsFile f = SafetensorsFile.open(out.resolve("adapter_model.safetensors"))) {
            assertTrue(f.names().contains("base_model.model.lm_head.weight"), f.names().toString());
            assertArrayEquals(
                    new long[] {TestModels.VOCAB, TestModels.HIDDEN},
                    f.info("base_model.model.lm_head.weight").shape());
        }
        JsonObject json =
                JsonParser.parseString(Files.readString(out.resolve("adapter_config.json")))
                        .getAsJsonObject();
        assertEquals("lm_head", json.getAsJsonArray("modules_to_save").get(0).getAsString());
        String msg =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        PeftModel.wrap(
                                                base,
                                                LoraConfig.builder()
                                                        .rank(2)
                                                        .targets("q_proj")
                                                        .modulesToSave(java.util.List.of("lm_haed"))
                                                        .build()))
                        .getMessage();
        assertTrue(msg.contains("lm_haed") && msg.contains("lm_head"), msg);
        msg =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        PeftModel.wrap(
                                                base,
                                                LoraConfig.builder()
                                                        .rank(2)
                                                        .targets("q_proj")
                                                        .modulesToSave(java.util.List.of("q_proj"))
                                                        .build()))
                        .getMessage();
        assertTrue(msg.contains("also an adapter target"), msg);
        assertTrue(
                ModuleTree.of(base).nodes().stream()
                        .noneMatch(n -> n.block() instanceof AdapterWrapper),
                "failed adds leave nothing");
    }
}
