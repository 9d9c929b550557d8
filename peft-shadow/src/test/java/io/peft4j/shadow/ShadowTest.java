package io.peft4j.shadow;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import com.google.gson.JsonObject;
import io.peft4j.core.AdapterScope;
import io.peft4j.core.PeftModel;
import io.peft4j.models.BertModel;
import io.peft4j.models.GenerationConfig;
import io.peft4j.models.Generator;
import io.peft4j.models.LlamaForCausalLM;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ShadowPEFT's own checks beyond the contract suite. */
class ShadowTest {

    private NDManager m;
    @TempDir Path tmp;

    @BeforeEach
    void open() {
        m = NDManager.newBaseManager();
        Engine.getInstance().setRandomSeed(3);
    }

    @AfterEach
    void close() {
        m.close();
    }

    private static NDArray run(Block model, NDManager m, NDArray... in) {
        return model.forward(new ParameterStore(m, false), new NDList(in), false).head();
    }

    private static float diff(NDArray a, NDArray b) {
        return a.sub(b).abs().max().getFloat();
    }

    @Test
    void identityAtInitIsExactWithPaddingOnLlamaAndBert() {
        NDArray ids = ShadowTestModels.ids(m, 1, 2, 6);
        NDArray mask = m.create(new long[] {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, new Shape(2, 6));
        for (Block base :
                List.of(ShadowTestModels.llama(m, 5, 3), ShadowTestModels.bert(m, 5, 2))) {
            NDArray before = run(base, m, ids, mask).duplicate();
            try (PeftModel peft = PeftModel.wrap(base, ShadowConfig.builder().build())) {
                assertEquals(
                        0f,
                        diff(peft.forward(new NDList(ids, mask)).head(), before),
                        base.getClass().getSimpleName());
                ShadowTestModels.randomize(peft.adapter("default"), 2, 0.2);
                assertTrue(
                        diff(peft.forward(new NDList(ids, mask)).head(), before) > 1e-3,
                        "non-zero weights must change the output");
            }
        }
    }

    @Test
    void parameterCountMatchesFormulaWithAndWithoutProjection() {
        LlamaForCausalLM base = ShadowTestModels.llama(m, 5, 4);
        try (PeftModel peft =
                PeftModel.wrap(base, ShadowConfig.builder().injectionSize(5).gateSize(7).build())) {
            long shadow = ShadowTestModels.shadowCount(ShadowFamily.LLAMA, 1, 16, 12, 2, 1, 16);
            assertEquals(
                    ShadowTestModels.adapterCount(shadow, 4, 16, 5, 7),
                    peft.trainableSummary().trainable());
            assertEquals(shadow, ShadowModel.of(peft).shadowParameterCount());
            ShadowConfig resolved = ShadowModel.of(peft).config();
            assertEquals(16, resolved.shadowHiddenSize());
            assertEquals(2, resolved.shadowNumAttentionHeads());
            assertEquals(1, resolved.shadowNumKeyValueHeads());
            assertEquals(12, resolved.shadowIntermediateSize());
            assertEquals(ShadowFamily.LLAMA, resolved.family());
        }
        try (PeftModel peft =
                PeftModel.wrap(
                        base,
                        ShadowConfig.builder()
                                .shadowHiddenSize(24)
                                .shadowIntermediateSize(10)
                                .build())) {
            long shadow = ShadowTestModels.shadowCount(ShadowFamily.LLAMA, 1, 24, 10, 3, 3, 16);
            // projection in (24x16) and out (16x24) included in shadowCount
            assertEquals(
                    ShadowTestModels.adapterCount(shadow, 4, 16, 16, 10),
                    peft.trainableSummary().trainable());
        }
    }

    @Test
    void detachedLogitsIgnoreBaseLayersButAdaptedOutputDoesNot() {
        LlamaForCausalLM base = ShadowTestModels.llama(m, 5, 3);
        NDArray ids = ShadowTestModels.ids(m, 2, 2, 5);
        try (PeftModel peft = PeftModel.wrap(base, ShadowConfig.builder().build())) {
            ShadowTestModels.randomize(peft.adapter("default"), 4, 0.2);
            DetachedShadow detached = ShadowModel.of(peft).detached();
            NDArray before = detached.logits(ids, null, false).duplicate();
            NDArray adaptedBefore = peft.forward(new NDList(ids)).head().duplicate();
            // the wrapped model also lists the shadow's own tensors (for DJL's Trainer): skip them
            java.util.Set<Parameter> shadowTensors =
                    new java.util.HashSet<>(peft.adapter("default").parameters().values());
            for (Map.Entry<String, Parameter> e : base.namedParameters().entrySet()) {
                if (e.getKey().startsWith("model.layers.")
                        && !shadowTensors.contains(e.getValue())) {
                    e.getValue().getArray().addi(0.5f);
                }
            }
            assertEquals(
                    0f,
                    diff(detached.logits(ids, null, false), before),
                    "detached logits must not depend on base layers");
            assertTrue(
                    diff(peft.forward(new NDList(ids)).head(), adaptedBefore) > 1e-2,
                    "the adapted model runs the base layers");
            // detached == base head on s0 from the adapter's own forward
            NDList both = ShadowModel.of(peft).forwardWithShadow(new NDList(ids), false);
            assertTrue(diff(both.get(1), before) < 1e-5);
        }
    }

    @Test
    void paddingLeftOnLlamaRightOnBertGivesSameRealPositions() {
        NDArray row = ShadowTestModels.ids(m, 8, 1, 4);
        LlamaForCausalLM llama = ShadowTestModels.llama(m, 5, 3);
        try (PeftModel peft = PeftModel.wrap(llama, ShadowConfig.builder().build())) {
            ShadowTestModels.randomize(peft.adapter("default"), 9, 0.2);
            NDArray alone = peft.forward(new NDList(row)).head();
            NDArray padded = m.zeros(new Shape(1, 2), row.getDataType()).concat(row, 1);
            NDArray mask = m.create(new long[] {0, 0, 1, 1, 1, 1}, new Shape(1, 6));
            NDArray out = peft.forward(new NDList(padded, mask)).head().get(":, 2:, :");
            assertTrue(
                    diff(out, alone) < 1e-4,
                    "left padding changed real positions by " + diff(out, alone));
            NDArray outNoMask = peft.forward(new NDList(padded)).head().get(":, 2:, :");
            assertTrue(
                    diff(outNoMask, alone) > 1e-4,
                    "without the mask the padding must matter (test sanity)");
        }
        BertModel bert = ShadowTestModels.bert(m, 5, 2);
        try (PeftModel peft = PeftModel.wrap(bert, ShadowConfig.builder().build())) {
            ShadowTestModels.randomize(peft.adapter("default"), 9, 0.2);
            NDArray alone = peft.forward(new NDList(row)).head();
            NDArray padded = row.concat(m.zeros(new Shape(1, 2), row.getDataType()), 1);
            NDArray mask = m.create(new long[] {1, 1, 1, 1, 0, 0}, new Shape(1, 6));
            NDArray out = peft.forward(new NDList(padded, mask)).head().get(":, :4, :");
            assertTrue(
                    diff(out, alone) < 1e-4,
                    "right padding changed real positions by " + diff(out, alone));
        }
    }

    @Test
    void cachedGenerationEqualsFullRecomputation() {
        LlamaForCausalLM llama = ShadowTestModels.llama(m, 5, 3);
        try (PeftModel peft = PeftModel.wrap(llama, ShadowConfig.builder().build())) {
            ShadowTestModels.randomize(peft.adapter("default"), 12, 0.3);
            List<long[]> prompts = List.of(new long[] {3, 7, 1, 9}, new long[] {5, 2});
            GenerationConfig config = GenerationConfig.builder().maxNewTokens(6).build();
            List<long[]> cached = Generator.generate(llama, prompts, config, m);
            // greedy by full forwards, no cache
            for (int p = 0; p < prompts.size(); p++) {
                List<Long> seq = new ArrayList<>();
                for (long t : prompts.get(p)) {
                    seq.add(t);
                }
                long[] expected = new long[cached.get(p).length];
                for (int t = 0; t < expected.length; t++) {
                    try (NDManager step = m.newSubManager()) {
                        NDArray ids =
                                step.create(
                                        seq.stream().mapToLong(Long::longValue).toArray(),
                                        new Shape(1, seq.size()));
                        NDArray logits = peft.forward(new NDList(ids)).head();
                        expected[t] = logits.get(":, -1, :").argMax(-1).toLongArray()[0];
                        seq.add(expected[t]);
                    }
                }
                assertArrayEquals(expected, cached.get(p), "prompt " + p);
            }
            try (AdapterScope off = peft.disableAdapters()) {
                List<long[]> plain = Generator.generate(llama, prompts, config, m);
                boolean differs = false;
                for (int p = 0; p < prompts.size(); p++) {
                    differs |= !java.util.Arrays.equals(plain.get(p), cached.get(p));
                }
                assertTrue(differs, "the adapter must change what is generated (test sanity)");
            }
        }
    }

    @Test
    void causalLmLossAddsWeightedShadowLossAndTrainsTheShadowFromStep0() {
        LlamaForCausalLM llama = ShadowTestModels.llama(m, 5, 3);
        NDArray ids = ShadowTestModels.ids(m, 3, 2, 6);
        NDArray mask = m.create(new long[] {1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1}, new Shape(2, 6));
        try (PeftModel peft =
                PeftModel.wrap(llama, ShadowConfig.builder().shadowLossWeight(0.5f).build())) {
            ShadowModel shadow = ShadowModel.of(peft);
            NDList both = shadow.forwardWithShadow(new NDList(ids, mask), false);
            float expected =
                    ShadowModel.nextTokenLoss(both.get(0), ids, mask).getFloat()
                            + 0.5f * ShadowModel.nextTokenLoss(both.get(1), ids, mask).getFloat();
            assertEquals(expected, shadow.causalLmLoss(ids, mask, false).getFloat(), 1e-5);
            // at init U = 0, so only the auxiliary loss reaches the shadow network
            Parameter q =
                    peft.adapter("default")
                            .parameters()
                            .get("shadow_model.layers.0.self_attn.q_proj.weight");
            assertNotNull(q);
            try (NDManager step = m.newSubManager();
                    GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray loss = shadow.causalLmLoss(ids, mask, true);
                gc.backward(loss);
                NDArray g = q.getArray().getGradient();
                assertTrue(
                        g.abs().sum().getFloat() > 0,
                        "the shadow network must get a gradient from the shadow loss");
                g.close();
            }
        }
    }

    @Test
    void pretrainedShadowSavesLoadsAndAttaches() throws Exception {
        LlamaForCausalLM llama = ShadowTestModels.llama(m, 5, 3);
        NDArray ids = ShadowTestModels.ids(m, 6, 2, 5);
        Path dir = tmp.resolve("shadow");
        NDArray saved;
        try (DetachedShadow shadow =
                DetachedShadow.create(llama, ShadowConfig.builder().shadowHiddenSize(8).build())) {
            for (Parameter p : shadow.trainableParameters().values()) {
                p.getArray()
                        .set(
                                ShadowTestModels.ids(
                                                m,
                                                p.getArray().size(),
                                                1,
                                                (int) p.getArray().size())
                                        .toType(ai.djl.ndarray.types.DataType.FLOAT32, false)
                                        .div(64f)
                                        .sub(0.25f)
                                        .toFloatArray());
            }
            assertTrue(shadow.trainableParameters().containsKey("shadow_hidden_projection.weight"));
            assertTrue(
                    llama.namedParameters().values().stream()
                            .noneMatch(Parameter::requiresGradient),
                    "base frozen while pretraining");
            saved = shadow.logits(ids, null, false).duplicate();
            shadow.save(dir);
            List<long[]> gen = shadow.generate(List.of(new long[] {1, 2, 3}), 4, -1, 0);
            assertEquals(4, gen.get(0).length);
        }
        try (DetachedShadow loaded = DetachedShadow.load(llama, dir)) {
            assertEquals(0f, diff(loaded.logits(ids, null, false), saved));
        }
        try (PeftModel peft =
                PeftModel.wrap(
                        llama, ShadowConfig.builder().pretrainedShadow(dir.toString()).build())) {
            ShadowModel sm = ShadowModel.of(peft);
            assertEquals(8, sm.config().shadowHiddenSize());
            assertEquals(
                    0f,
                    diff(sm.detached().logits(ids, null, false), saved),
                    "the adapter starts from the pretrained shadow");
            JsonObject json = sm.config().toJson();
            assertEquals(dir.toString(), json.get("pretrained_shadow_source").getAsString());
        }
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                PeftModel.wrap(
                                        llama,
                                        ShadowConfig.builder()
                                                .pretrainedShadow(dir.toString())
                                                .shadowHiddenSize(12)
                                                .build()));
        assertTrue(e.getMessage().contains("shadow_hidden_size is 12"), e.getMessage());
    }

    @Test
    void mergeIsRefusedWithAReason() {
        try (PeftModel peft =
                PeftModel.wrap(ShadowTestModels.llama(m, 5, 3), ShadowConfig.builder().build())) {
            UnsupportedOperationException e =
                    assertThrows(UnsupportedOperationException.class, peft::merge);
            assertTrue(e.getMessage().contains("shadow network"), e.getMessage());
        }
    }

    @Test
    void needsALayerStackWithTwoLayers() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                PeftModel.wrap(
                                        io.peft4j.core.contract.TestModels.transformer(m, 1),
                                        ShadowConfig.builder().build()));
        assertTrue(e.getMessage().contains("LayerStack"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                PeftModel.wrap(
                                        ShadowTestModels.llama(m, 5, 1),
                                        ShadowConfig.builder().build()));
        assertTrue(e.getMessage().contains("at least 2 base layers"), e.getMessage());
    }

    @Test
    void configValidatesAndRoundTripsJson() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> ShadowConfig.builder().dropout(1.5f).build());
        assertTrue(e.getMessage().contains("dropout must be in [0, 1), got 1.5"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> ShadowConfig.builder().gateSize(1).build());
        assertTrue(e.getMessage().contains("gate_hidden_size must be >= 2, got 1"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                ShadowConfig.builder()
                                        .shadowNumAttentionHeads(3)
                                        .shadowNumKeyValueHeads(2)
                                        .build());
        assertTrue(
                e.getMessage().contains("(3)") && e.getMessage().contains("(2)"), e.getMessage());
        ShadowConfig c =
                ShadowConfig.builder()
                        .numShadowLayers(2)
                        .injectionSize(8)
                        .alpha(0.3f)
                        .family(ShadowFamily.BERT)
                        .build();
        JsonObject j = c.toJson();
        assertEquals("SHADOW", j.get("peft_type").getAsString());
        j.addProperty("future_option", 1);
        List<String> warnings = new ArrayList<>();
        assertEquals(c, ShadowConfig.fromJson(j, warnings::add));
        assertEquals(1, warnings.size());
        assertTrue(warnings.get(0).contains("future_option"));
        JsonObject bad = c.toJson();
        bad.addProperty("shadow_family", "gpt");
        e = assertThrows(IllegalArgumentException.class, () -> ShadowConfig.fromJson(bad, w -> {}));
        assertTrue(e.getMessage().contains("\"gpt\""), e.getMessage());
    }

    @Test
    void loadRejectsAWrongShapeNamingTheTensor() throws Exception {
        Path dir = tmp.resolve("a");
        try (PeftModel peft =
                PeftModel.wrap(
                        ShadowTestModels.llama(m, 5, 3),
                        ShadowConfig.builder().injectionSize(4).build())) {
            peft.save(dir);
        }
        JsonObject j =
                com.google.gson.JsonParser.parseString(
                                java.nio.file.Files.readString(dir.resolve("adapter_config.json")))
                        .getAsJsonObject();
        j.addProperty("injection_hidden_size", 6);
        java.nio.file.Files.writeString(dir.resolve("adapter_config.json"), j.toString());
        Exception e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> PeftModel.load(ShadowTestModels.llama(m, 5, 3), dir));
        assertTrue(
                e.getMessage()
                        .contains(
                                "shadow_injection_model.injection_downs has shape (2, 16, 4), expected (2, 16, 6)"),
                e.getMessage());
    }
}
