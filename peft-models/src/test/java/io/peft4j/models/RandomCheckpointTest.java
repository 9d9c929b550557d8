package io.peft4j.models;

import static io.peft4j.models.TestSupport.forward;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import com.google.gson.JsonObject;
import io.peft4j.core.io.SafetensorsDType;
import io.peft4j.core.io.SafetensorsFile;
import io.peft4j.core.io.SafetensorsWriter;
import io.peft4j.core.io.TensorInfo;
import io.peft4j.core.testing.ManagedTest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The random-checkpoint generator's files, read back by the loader. */
class RandomCheckpointTest extends ManagedTest {

    @TempDir Path dir;

    /**
     * Small enough for several shards, with a tensor (the embedding, 32 KiB) larger than the limit.
     */
    static final long SMALL_SHARDS = 20_000;

    @Test
    void publishedShapesHaveHuggingFacesParameterCounts() {
        // the counts Hugging Face's num_parameters() gives for these models (tied head once)
        assertEquals(
                494_032_768L,
                RandomCheckpoint.builder(RandomCheckpoint.Architecture.QWEN2_5_0_5B)
                        .build()
                        .parameterCount());
        assertEquals(
                1_235_814_400L,
                RandomCheckpoint.builder(RandomCheckpoint.Architecture.LLAMA_3_2_1B)
                        .build()
                        .parameterCount());
        assertEquals(
                134_515_008L,
                RandomCheckpoint.builder(RandomCheckpoint.Architecture.SMOLLM2_135M)
                        .build()
                        .parameterCount());
    }

    @Test
    void writesShardsIndexAndConfigAsHuggingFaceDoes() throws IOException {
        RandomCheckpoint gen =
                RandomCheckpoint.builder(RandomCheckpoint.Architecture.TINY_QWEN2)
                        .maxShardBytes(SMALL_SHARDS)
                        .build();
        List<Path> files = gen.write(dir);
        int n = files.size();
        assertTrue(n > 2, "several shards: " + files);
        for (int i = 0; i < n; i++) {
            assertEquals(
                    String.format("model-%05d-of-%05d.safetensors", i + 1, n),
                    files.get(i).getFileName().toString());
        }
        assertTrue(Files.notExists(dir.resolve("model.safetensors")));

        JsonObject config = Json.readObject(dir.resolve("config.json"));
        assertEquals("qwen2", config.get("model_type").getAsString());
        assertEquals(
                "Qwen2ForCausalLM", config.getAsJsonArray("architectures").get(0).getAsString());
        assertEquals("bfloat16", config.get("torch_dtype").getAsString());
        assertTrue(config.get("tie_word_embeddings").getAsBoolean());
        assertEquals(10_000.0, config.get("rope_theta").getAsDouble());
        assertEquals(4, config.get("num_attention_heads").getAsInt());
        assertEquals(2, config.get("num_key_value_heads").getAsInt());
        assertEquals(gen.config(), LlamaConfig.fromJson(dir.resolve("config.json")));

        JsonObject index = Json.readObject(dir.resolve("model.safetensors.index.json"));
        JsonObject weightMap = index.getAsJsonObject("weight_map");
        Map<String, long[]> declared = gen.shapes();
        assertEquals(
                declared.keySet(),
                weightMap.keySet(),
                "the index lists every tensor, no tied lm_head");
        long totalBytes = 0;
        Set<String> seen = new HashSet<>();
        for (Path file : files) {
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                assertEquals(Map.of("format", "pt"), f.metadata());
                long shardBytes = 0;
                for (String name : f.names()) {
                    TensorInfo info = f.info(name);
                    assertEquals(SafetensorsDType.BF16, info.dtype(), name);
                    assertArrayEquals(declared.get(name), info.shape(), name);
                    assertEquals(
                            file.getFileName().toString(), weightMap.get(name).getAsString(), name);
                    shardBytes += info.byteLength();
                    assertTrue(seen.add(name), name + " in two shards");
                }
                assertTrue(
                        shardBytes <= SMALL_SHARDS || f.names().size() == 1,
                        file + " holds " + shardBytes + " bytes over the limit in several tensors");
                totalBytes += shardBytes;
            }
        }
        assertEquals(declared.keySet(), seen);
        assertEquals(totalBytes, index.getAsJsonObject("metadata").get("total_size").getAsLong());
        assertEquals(2 * gen.parameterCount(), totalBytes);
    }

    @Test
    void tinyShapesMatchTheModelsOwnParameters() {
        for (RandomCheckpoint.Architecture arch : RandomCheckpoint.Architecture.values()) {
            LlamaConfig preset = arch.config();
            // the same layer structure at a small width: checks names and which biases exist
            LlamaConfig c =
                    arch == RandomCheckpoint.Architecture.TINY_QWEN2
                            ? preset
                            : preset.toBuilder()
                                    .vocabSize(64)
                                    .hiddenSize(preset.numAttentionHeads() * 4)
                                    .headDim(0)
                                    .intermediateSize(24)
                                    .numHiddenLayers(2)
                                    .build();
            LlamaForCausalLM model = TestSupport.init(new LlamaForCausalLM(c), manager);
            Map<String, long[]> expected = new TreeMap<>();
            model.namedParameters()
                    .forEach(
                            (k, p) -> {
                                if (!(c.tieWordEmbeddings() && k.equals("lm_head.weight"))) {
                                    expected.put(k, p.getArray().getShape().getShape());
                                }
                            });
            Map<String, long[]> written =
                    new TreeMap<>(RandomCheckpoint.builder(c).build().shapes());
            assertEquals(expected.keySet(), written.keySet(), arch.name());
            expected.forEach((k, s) -> assertArrayEquals(s, written.get(k), arch + " " + k));
        }
    }

    @Test
    void shardedBf16LoadsEqualToItsF32Twin() throws IOException {
        Path bf16 = dir.resolve("bf16");
        RandomCheckpoint gen =
                RandomCheckpoint.builder(RandomCheckpoint.Architecture.TINY_QWEN2)
                        .maxShardBytes(SMALL_SHARDS)
                        .seed(7)
                        .build();
        List<Path> shards = gen.write(bf16);
        // the twin: every tensor widened by the independent float[] reader, written as one F32 file
        Path f32 = dir.resolve("f32");
        Files.createDirectories(f32);
        Files.copy(bf16.resolve("config.json"), f32.resolve("config.json"));
        Map<String, NDArray> twin = new LinkedHashMap<>();
        for (Path shard : shards) {
            try (SafetensorsFile f = SafetensorsFile.open(shard)) {
                for (String name : f.names()) {
                    twin.put(
                            name,
                            manager.create(f.loadFloats(name), new Shape(f.info(name).shape())));
                }
            }
        }
        SafetensorsWriter.write(f32.resolve("model.safetensors"), twin, Map.of("format", "pt"));

        try (Model a = HfCheckpoint.load(bf16, Device.cpu());
                Model b = HfCheckpoint.load(f32, Device.cpu())) {
            LlamaForCausalLM ma = assertInstanceOf(LlamaForCausalLM.class, a.getBlock());
            LlamaForCausalLM mb = assertInstanceOf(LlamaForCausalLM.class, b.getBlock());
            Map<String, Parameter> pa = ma.namedParameters();
            Map<String, Parameter> pb = mb.namedParameters();
            assertEquals(pb.keySet(), pa.keySet());
            boolean anyNonTrivial = false;
            for (String name : pa.keySet()) {
                NDArray x = pa.get(name).getArray();
                NDArray y = pb.get(name).getArray();
                assertEquals(DataType.FLOAT32, x.getDataType(), name);
                assertEquals(y.getShape(), x.getShape(), name);
                assertArrayEquals(
                        y.toFloatArray(), x.toFloatArray(), 0f, name); // widening is exact
                if (gen.shapes().containsKey(name)) {
                    assertArrayEquals(gen.shapes().get(name), x.getShape().getShape(), name);
                }
                anyNonTrivial |= x.abs().max().getFloat() > 0.01f;
            }
            assertTrue(anyNonTrivial, "random values, not zeros");
            // tied: the head is the embedding's storage, values and all
            assertArrayEquals(
                    pa.get("model.embed_tokens.weight").getArray().toFloatArray(),
                    pa.get("lm_head.weight").getArray().toFloatArray(),
                    0f);
            NDArray ids = manager.create(new long[][] {{1, 5, 9, 200, 511}});
            NDArray la = forward(ma, manager, ids);
            NDArray lb = forward(mb, manager, ids);
            assertTrue(la.isInfinite().logicalOr(la.isNaN()).none().getBoolean(), "finite logits");
            assertArrayEquals(lb.toFloatArray(), la.toFloatArray(), 0f);
        }
    }

    @Test
    void singleShardIsModelSafetensorsWithoutIndex() throws IOException {
        List<Path> files =
                RandomCheckpoint.builder(RandomCheckpoint.Architecture.TINY_QWEN2)
                        .build()
                        .write(dir);
        assertEquals(List.of(dir.resolve("model.safetensors")), files);
        assertTrue(Files.notExists(dir.resolve("model.safetensors.index.json")));
        try (Model m = HfCheckpoint.load(dir, Device.cpu())) {
            assertInstanceOf(LlamaForCausalLM.class, m.getBlock());
        }
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals((short) 0x3F80, RandomCheckpoint.toBf16(1f));
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even one (1)
        assertEquals((short) 0x3F80, RandomCheckpoint.toBf16(Float.intBitsToFloat(0x3F808000)));
        // just above halfway rounds up
        assertEquals((short) 0x3F81, RandomCheckpoint.toBf16(Float.intBitsToFloat(0x3F808001)));
        // halfway above an odd mantissa rounds up to even
        assertEquals((short) 0x3F82, RandomCheckpoint.toBf16(Float.intBitsToFloat(0x3F818000)));
        assertEquals((short) 0xBF80, RandomCheckpoint.toBf16(-1f));
    }
}
