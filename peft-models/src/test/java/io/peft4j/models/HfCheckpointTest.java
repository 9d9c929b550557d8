package io.peft4j.models;

import static io.peft4j.models.TestSupport.assertClose;
import static io.peft4j.models.TestSupport.forward;
import static io.peft4j.models.TestSupport.init;
import static io.peft4j.models.TestSupport.tinyLlama;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import io.peft4j.core.io.SafetensorsWriter;
import io.peft4j.core.testing.ManagedTest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checkpoints written at run time from tiny random models (no weights are committed). */
class HfCheckpointTest extends ManagedTest {

    @TempDir Path dir;

    private Map<String, NDArray> state(LlamaForCausalLM m) {
        Map<String, NDArray> out = new TreeMap<>();
        m.namedParameters().forEach((k, v) -> out.put(k, v.getArray()));
        return out;
    }

    @Test
    void roundTripsEveryLlamaFamilyVariant() {
        for (LlamaConfig config :
                List.of(
                        tinyLlama("llama", 4, 2, false),
                        tinyLlama("qwen2", 4, 2, true),
                        tinyLlama("mistral", 4, 1, false).toBuilder().slidingWindow(3).build(),
                        tinyLlama("llama", 4, 4, true).toBuilder()
                                .qkvBias(true)
                                .outputBias(true)
                                .mlpBias(true)
                                .ropeScalingFactor(2.0)
                                .ropeTheta(500)
                                .build())) {
            LlamaForCausalLM src = init(new LlamaForCausalLM(config), manager);
            Path out = dir.resolve(config.modelType() + config.hashCode());
            HfCheckpoint.save(src, out);
            NDArray ids = manager.create(new long[][] {{1, 2, 3, 4, 5, 6}});
            NDArray expected = forward(src, manager, ids);
            try (Model loaded = HfCheckpoint.load(out, Device.cpu())) {
                LlamaForCausalLM m = assertInstanceOf(LlamaForCausalLM.class, loaded.getBlock());
                assertEquals(config, m.config(), "config.json round trip");
                assertClose(expected, forward(m, manager, ids), 1e-6, config.toString());
            }
        }
    }

    @Test
    void tiedCheckpointHasNoHeadTensorAndLoadsTied() throws IOException {
        LlamaForCausalLM src = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, true)), manager);
        HfCheckpoint.save(src, dir);
        String header =
                new String(
                        Files.readAllBytes(dir.resolve("model.safetensors")),
                        0,
                        4000,
                        StandardCharsets.ISO_8859_1);
        assertFalse(header.contains("lm_head.weight"));
        try (Model loaded = HfCheckpoint.load(dir, Device.cpu())) {
            Map<String, Parameter> p = ((LlamaForCausalLM) loaded.getBlock()).namedParameters();
            assertEquals(
                    0.0,
                    TestSupport.maxAbsDiff(
                            p.get("lm_head.weight").getArray(),
                            src.namedParameters().get("model.embed_tokens.weight").getArray()));
        }
    }

    @Test
    void loadsShardedCheckpoints() throws IOException {
        LlamaForCausalLM src = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        HfCheckpoint.save(src, dir);
        Files.delete(dir.resolve("model.safetensors"));
        Map<String, NDArray> first = new LinkedHashMap<>();
        Map<String, NDArray> second = new LinkedHashMap<>();
        StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        int i = 0;
        for (Map.Entry<String, NDArray> e : state(src).entrySet()) {
            boolean one = i++ % 2 == 0;
            (one ? first : second).put(e.getKey(), e.getValue());
            index.append(i > 1 ? "," : "")
                    .append('"')
                    .append(e.getKey())
                    .append("\": \"model-0000")
                    .append(one ? 1 : 2)
                    .append("-of-00002.safetensors\"");
        }
        index.append("}}");
        SafetensorsWriter.write(dir.resolve("model-00001-of-00002.safetensors"), first, Map.of());
        SafetensorsWriter.write(dir.resolve("model-00002-of-00002.safetensors"), second, Map.of());
        Files.writeString(dir.resolve("model.safetensors.index.json"), index);
        NDArray ids = manager.create(new long[][] {{7, 3, 1}});
        try (Model loaded = HfCheckpoint.load(dir, Device.cpu())) {
            assertClose(
                    forward(src, manager, ids),
                    forward(loaded.getBlock(), manager, ids),
                    1e-6,
                    "sharded");
        }
    }

    @Test
    void missingUnexpectedAndMisshapenTensorsAreListedTogether() throws IOException {
        LlamaForCausalLM src = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        HfCheckpoint.save(src, dir);
        Map<String, NDArray> broken = state(src);
        broken.remove("model.layers.1.mlp.up_proj.weight");
        broken.put("model.layers.0.self_attn.q_proj.weight", manager.zeros(new Shape(16, 8)));
        broken.put("model.layers.0.self_attn.qq_proj.weight", manager.zeros(new Shape(2, 2)));
        broken.put("model.layers.0.self_attn.rotary_emb.inv_freq", manager.zeros(new Shape(2)));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), broken, Map.of());
        CheckpointException e =
                assertThrows(CheckpointException.class, () -> HfCheckpoint.load(dir, Device.cpu()));
        assertEquals(List.of("model.layers.1.mlp.up_proj.weight (24, 16)"), e.missing());
        assertEquals(1, e.unexpected().size());
        assertTrue(
                e.unexpected().get(0).startsWith("model.layers.0.self_attn.qq_proj.weight (2, 2)"));
        assertEquals(
                List.of(
                        "model.layers.0.self_attn.q_proj.weight: checkpoint (16, 8) "
                                + "(model.safetensors), model expects (16, 16)"),
                e.mismatched());
        assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
    }

    @Test
    void configNumbersOutOfRangeAreRefusedByName() {
        LlamaConfig ok = tinyLlama("llama", 4, 2, false);
        for (Map.Entry<String, java.util.function.UnaryOperator<LlamaConfig.Builder>> bad :
                Map.<String, java.util.function.UnaryOperator<LlamaConfig.Builder>>of(
                                "initializer_range", b -> b.initializerRange(-1),
                                "rms_norm_eps", b -> b.rmsNormEps(Double.NaN),
                                "rope_theta", b -> b.ropeTheta(0))
                        .entrySet()) {
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> bad.getValue().apply(ok.toBuilder()).build());
            assertTrue(e.getMessage().startsWith(bad.getKey() + " must be finite"), e.getMessage());
        }
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> BertConfig.builder().hiddenDropoutProb(1.0).build());
        assertTrue(
                e.getMessage().startsWith("hidden_dropout_prob must be in [0, 1)"), e.getMessage());
    }

    @Test
    void anIntegerWeightIsRefusedBeforeAnythingIsLoaded() throws IOException {
        LlamaForCausalLM src = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        Map<String, NDArray> state = state(src);
        // the last tensor in load order is an integer one: a loader checking types while it loads
        // would have overwritten every other weight first
        String last = new java.util.TreeMap<>(state).lastKey();
        state.put(last, state.get(last).toType(DataType.INT32, false));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), state, Map.of());
        LlamaForCausalLM target =
                init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        NDArray ids = manager.create(new long[][] {{9, 8, 7}});
        NDArray before = forward(target, manager, ids);
        assertTrue(
                TestSupport.maxAbsDiff(before, forward(src, manager, ids)) > 1e-3,
                "two random models must differ");
        CheckpointException e =
                assertThrows(
                        CheckpointException.class, () -> HfCheckpoint.loadWeights(target, dir));
        assertEquals(1, e.mismatched().size(), e.getMessage());
        assertTrue(
                e.mismatched().get(0).contains(last)
                        && e.mismatched()
                                .get(0)
                                .toLowerCase(java.util.Locale.ROOT)
                                .contains("int32")
                        && e.mismatched().get(0).contains("floating point"),
                e.getMessage());
        assertEquals(
                0.0,
                TestSupport.maxAbsDiff(before, forward(target, manager, ids)),
                0.0,
                "nothing loaded");
    }

    @Test
    void ignoresBuffersByRuleAndReportsThem() throws IOException {
        LlamaForCausalLM src = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        HfCheckpoint.save(src, dir);
        Map<String, NDArray> withBuffers = state(src);
        withBuffers.put(
                "model.layers.0.self_attn.rotary_emb.inv_freq", manager.zeros(new Shape(2)));
        SafetensorsWriter.write(dir.resolve("model.safetensors"), withBuffers, Map.of());
        LlamaForCausalLM target =
                init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        LoadReport report = HfCheckpoint.loadWeights(target, dir);
        assertEquals(
                List.of(
                        "model.layers.0.self_attn.rotary_emb.inv_freq: buffer, recomputed by the model"),
                report.ignored());
        assertEquals(src.namedParameters().size(), report.loaded().size());
        NDArray ids = manager.create(new long[][] {{9, 8, 7}});
        assertClose(forward(src, manager, ids), forward(target, manager, ids), 1e-6, "loadWeights");
    }

    @Test
    void loadsTheBaseModelOutOfATaskCheckpoint() {
        LlamaForCausalLM src = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        HfCheckpoint.save(src, dir);
        LlamaModel body = init(new LlamaModel(src.config()), manager);
        LoadReport report = HfCheckpoint.loadWeights(body, dir);
        assertEquals(
                List.of("lm_head.weight: head of another task, not part of this model"),
                report.ignored());
        assertEquals(
                src.namedParameters().get("model.norm.weight").getArray().toFloatArray()[3],
                body.namedParameters().get("norm.weight").getArray().toFloatArray()[3]);
    }

    @Test
    void clearErrorsForFoldersThatAreNotCheckpoints() throws IOException {
        IllegalArgumentException noConfig =
                assertThrows(
                        IllegalArgumentException.class, () -> HfCheckpoint.load(dir, Device.cpu()));
        assertTrue(noConfig.getMessage().contains("no config.json"), noConfig.getMessage());
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"gpt2\"}");
        Files.writeString(dir.resolve("pytorch_model.bin"), "pickle");
        IllegalArgumentException noWeights =
                assertThrows(
                        IllegalArgumentException.class, () -> HfCheckpoint.load(dir, Device.cpu()));
        assertTrue(noWeights.getMessage().contains("pytorch_model.bin"), noWeights.getMessage());
        LlamaForCausalLM src = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        HfCheckpoint.save(src, dir);
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"gpt2\"}");
        IllegalArgumentException type =
                assertThrows(
                        IllegalArgumentException.class, () -> HfCheckpoint.load(dir, Device.cpu()));
        assertTrue(type.getMessage().contains("'gpt2' is not supported"), type.getMessage());
        IllegalArgumentException bf16 =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> HfCheckpoint.load(dir, Device.cpu(), DataType.BFLOAT16));
        assertTrue(bf16.getMessage().contains("BFLOAT16"), bf16.getMessage());
    }

    @Test
    void unsupportedConfigFeaturesAreNamed() throws IOException {
        Path config = dir.resolve("config.json");
        Files.writeString(
                config,
                "{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,"
                        + "\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
                        + "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8}}");
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromJson(config));
        assertTrue(e.getMessage().contains("rope_scaling type 'llama3'"), e.getMessage());
        Files.writeString(
                config,
                "{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,"
                        + "\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":3}");
        e = assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromJson(config));
        assertTrue(e.getMessage().contains("multiple of num_attention_heads"), e.getMessage());
        Files.writeString(
                config,
                "{\"model_type\":\"qwen2\",\"vocab_size\":10,\"hidden_size\":8,"
                        + "\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
                        + "\"num_key_value_heads\":1,\"rope_scaling\":{\"type\":\"linear\",\"factor\":4}}");
        LlamaConfig q = LlamaConfig.fromJson(config);
        assertTrue(q.qkvBias() && !q.outputBias() && !q.tieWordEmbeddings());
        assertEquals(4.0, q.ropeScalingFactor());
        assertEquals(1, q.numKeyValueHeads());
    }
}
