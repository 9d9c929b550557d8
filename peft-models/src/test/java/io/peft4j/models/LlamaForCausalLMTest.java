package io.peft4j.models;

import static io.peft4j.models.TestSupport.assertClose;
import static io.peft4j.models.TestSupport.forward;
import static io.peft4j.models.TestSupport.init;
import static io.peft4j.models.TestSupport.tinyLlama;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.peft4j.core.testing.ManagedTest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LlamaForCausalLMTest extends ManagedTest {

    @Test
    void parameterNamesAndShapesFollowHuggingFace() {
        LlamaForCausalLM m = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        Map<String, Parameter> named = m.namedParameters();
        assertEquals(
                new Shape(37, 16), named.get("model.embed_tokens.weight").getArray().getShape());
        assertEquals(
                new Shape(16, 16),
                named.get("model.layers.0.self_attn.q_proj.weight").getArray().getShape());
        assertEquals(
                new Shape(8, 16),
                named.get("model.layers.1.self_attn.k_proj.weight").getArray().getShape());
        assertEquals(
                new Shape(8, 16),
                named.get("model.layers.1.self_attn.v_proj.weight").getArray().getShape());
        assertEquals(
                new Shape(16, 16),
                named.get("model.layers.1.self_attn.o_proj.weight").getArray().getShape());
        assertEquals(
                new Shape(24, 16),
                named.get("model.layers.0.mlp.gate_proj.weight").getArray().getShape());
        assertEquals(
                new Shape(24, 16),
                named.get("model.layers.0.mlp.up_proj.weight").getArray().getShape());
        assertEquals(
                new Shape(16, 24),
                named.get("model.layers.0.mlp.down_proj.weight").getArray().getShape());
        assertEquals(
                new Shape(16),
                named.get("model.layers.0.input_layernorm.weight").getArray().getShape());
        assertEquals(
                new Shape(16),
                named.get("model.layers.0.post_attention_layernorm.weight").getArray().getShape());
        assertEquals(new Shape(16), named.get("model.norm.weight").getArray().getShape());
        assertEquals(new Shape(37, 16), named.get("lm_head.weight").getArray().getShape());
        assertEquals(2 + 2 * 9 + 1, named.size(), named.keySet().toString());
        assertTrue(named.keySet().stream().noneMatch(k -> k.endsWith(".bias")));

        Map<String, Block> modules = ModulePaths.namedModules(m);
        for (String proj : List.of("q_proj", "k_proj", "v_proj", "o_proj")) {
            assertInstanceOf(Linear.class, modules.get("model.layers.1.self_attn." + proj));
        }
        for (String proj : List.of("gate_proj", "up_proj", "down_proj")) {
            assertInstanceOf(Linear.class, modules.get("model.layers.0.mlp." + proj));
        }
        assertInstanceOf(Linear.class, modules.get("lm_head"));
        assertInstanceOf(EmbeddingBlock.class, modules.get("model.embed_tokens"));
        assertEquals("model.layers.1", m.layerPath(1));
        assertEquals(modules.get("model.layers.1"), m.layer(1));
    }

    @Test
    void qwen2HasQkvBiasButNoOutputBias() {
        LlamaForCausalLM m = init(new LlamaForCausalLM(tinyLlama("qwen2", 4, 2, true)), manager);
        Map<String, Parameter> named = m.namedParameters();
        assertNotNull(named.get("model.layers.0.self_attn.q_proj.bias"));
        assertNotNull(named.get("model.layers.0.self_attn.k_proj.bias"));
        assertNotNull(named.get("model.layers.0.self_attn.v_proj.bias"));
        assertNull(named.get("model.layers.0.self_attn.o_proj.bias"));
        assertNull(named.get("model.layers.0.mlp.up_proj.bias"));
    }

    @Test
    void tiedHeadSharesEmbeddingStorage() {
        LlamaForCausalLM m = init(new LlamaForCausalLM(tinyLlama("llama", 4, 4, true)), manager);
        NDArray embed = m.namedParameters().get("model.embed_tokens.weight").getArray();
        NDArray head = m.namedParameters().get("lm_head.weight").getArray();
        assertEquals(0.0, TestSupport.maxAbsDiff(embed, head));
        embed.set(new NDIndex("3, :"), 7f);
        assertEquals(7f, head.get(3, 5).getFloat(), "lm_head must see a change of embed_tokens");
    }

    @Test
    void outputsHaveVocabularyLogitsAndDependOnEveryProjection() {
        LlamaForCausalLM m = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        NDArray ids = manager.create(new long[][] {{1, 5, 9, 3, 7}});
        NDArray logits = forward(m, manager, ids);
        assertEquals(new Shape(1, 5, 37), logits.getShape());
        for (String name :
                List.of(
                        "model.layers.0.self_attn.k_proj.weight",
                        "model.layers.1.self_attn.v_proj.weight",
                        "model.layers.0.mlp.gate_proj.weight",
                        "model.layers.1.post_attention_layernorm.weight",
                        "model.norm.weight")) {
            NDArray w = m.namedParameters().get(name).getArray();
            NDArray saved = w.duplicate();
            w.intern(w.mul(1.5f));
            double diff = TestSupport.maxAbsDiff(logits, forward(m, manager, ids));
            w.intern(saved);
            assertTrue(diff > 1e-4, name + " must change the logits, diff " + diff);
        }
        assertClose(
                logits, forward(m, manager, ids), 1e-6, "restored weights give the same logits");
    }

    @Test
    void causalPrefixOutputsDoNotDependOnLaterTokens() {
        LlamaForCausalLM m = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        NDArray a = forward(m, manager, manager.create(new long[][] {{4, 8, 15, 16, 23}}));
        NDArray b = forward(m, manager, manager.create(new long[][] {{4, 8, 15, 30, 1}}));
        assertClose(a.get(":, :3"), b.get(":, :3"), 1e-5, "prefix logits");
        assertTrue(TestSupport.maxAbsDiff(a.get(":, 3:"), b.get(":, 3:")) > 1e-3);
    }

    @Test
    void paddingNeverChangesOutputsAtRealPositions() {
        for (String type : List.of("llama", "qwen2", "mistral")) {
            LlamaForCausalLM m =
                    init(
                            new LlamaForCausalLM(tinyLlama(type, 4, 2, type.equals("qwen2"))),
                            manager);
            long[] longer = {3, 14, 15, 9, 26, 5};
            long[] shorter = {35, 8, 9};
            NDArray refLong = forward(m, manager, manager.create(new long[][] {longer}));
            NDArray refShort = forward(m, manager, manager.create(new long[][] {shorter}));

            // left padding (pad id 0 at the front), as for batched generation
            NDArray ids = manager.create(new long[][] {longer, {0, 0, 0, 35, 8, 9}});
            NDArray mask = manager.create(new long[][] {{1, 1, 1, 1, 1, 1}, {0, 0, 0, 1, 1, 1}});
            NDArray out = forward(m, manager, ids, mask);
            assertClose(refLong, out.get("0:1"), 2e-5, type + " left padding, full row");
            assertClose(refShort, out.get("1:2, 3:"), 2e-5, type + " left padding, padded row");

            // right padding, with different pad ids: they must not matter either
            NDArray idsR = manager.create(new long[][] {longer, {35, 8, 9, 7, 21, 2}});
            NDArray maskR = manager.create(new long[][] {{1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0}});
            NDArray outR = forward(m, manager, idsR, maskR);
            assertClose(refShort, outR.get("1:2, :3"), 2e-5, type + " right padding");

            // control: without the mask the left-padded row's real positions do change
            NDArray unmasked = forward(m, manager, ids);
            assertTrue(
                    TestSupport.maxAbsDiff(refShort, unmasked.get("1:2, 3:")) > 1e-3,
                    "the test must be able to see padding leaking in");
        }
    }

    @Test
    void groupedQueryAttentionEqualsMultiHeadWithRepeatedKeyValueHeads() {
        LlamaForCausalLM gqa = init(new LlamaForCausalLM(tinyLlama("qwen2", 4, 2, false)), manager);
        LlamaForCausalLM mha = init(new LlamaForCausalLM(tinyLlama("qwen2", 4, 4, false)), manager);
        Map<String, Parameter> src = gqa.namedParameters();
        int headDim = 4;
        for (Map.Entry<String, Parameter> e : mha.namedParameters().entrySet()) {
            NDArray value = src.get(e.getKey()).getArray();
            if (e.getKey().contains("k_proj") || e.getKey().contains("v_proj")) {
                // kv head g serves query heads 2g and 2g+1: repeat each head's rows twice
                List<NDArray> rows = new ArrayList<>();
                for (int g = 0; g < 2; g++) {
                    NDArray head = value.get((g * headDim) + ":" + ((g + 1) * headDim));
                    rows.add(head);
                    rows.add(head);
                }
                value = NDArrays_concat(rows);
            }
            e.getValue().getArray().intern(value.duplicate());
        }
        NDArray ids = manager.create(new long[][] {{2, 7, 1, 8, 2, 8}, {3, 1, 4, 1, 5, 9}});
        assertClose(
                forward(mha, manager, ids),
                forward(gqa, manager, ids),
                1e-5,
                "GQA vs repeated MHA");
    }

    private static NDArray NDArrays_concat(List<NDArray> parts) {
        return ai.djl.ndarray.NDArrays.concat(new NDList(parts), 0);
    }

    @Test
    void kvCacheStepsEqualTheFullForward() {
        LlamaForCausalLM m = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, true)), manager);
        NDArray ids =
                manager.create(new long[][] {{0, 0, 5, 6, 7, 8, 9}, {11, 12, 13, 14, 15, 16, 17}});
        NDArray mask = manager.create(new long[][] {{0, 0, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1}});
        NDArray full = forward(m, manager, ids, mask);
        ParameterStore ps = new ParameterStore(manager, false);
        try (KvCache cache = KvCache.create(manager, m.numLayers())) {
            NDArray first = m.forwardCached(ps, ids.get(":, :4"), mask.get(":, :4"), cache, null);
            // padded positions' outputs are meaningless; real ones must agree
            assertClose(
                    full.get("0:1, 2:4"), first.get("0:1, 2:4"), 2e-5, "prompt part, padded row");
            assertClose(full.get("1:2, :4"), first.get("1:2, :4"), 2e-5, "prompt part, full row");
            for (int t = 4; t < 7; t++) {
                NDArray step =
                        m.forwardCached(
                                ps,
                                ids.get(":, " + t + ":" + (t + 1)),
                                mask.get(":, " + t + ":" + (t + 1)),
                                cache,
                                null);
                assertClose(full.get(":, " + t + ":" + (t + 1)), step, 2e-5, "step " + t);
            }
            assertEquals(7, cache.length());
        }
    }

    @Test
    void repeatedForwardsLeaveNoArraysBehind() {
        LlamaForCausalLM m = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, true)), manager);
        try (NDManager step = manager.newSubManager()) {
            NDArray ids = step.create(new long[][] {{1, 2, 3, 4}});
            NDArray mask = step.create(new long[][] {{0, 1, 1, 1}});
            NDArray next = step.create(new long[][] {{5}});
            ParameterStore ps = new ParameterStore(step, false);
            m.forward(ps, new NDList(ids, mask), false);
            int before = manager.getManagedArrays().size();
            for (int i = 0; i < 5; i++) {
                m.forward(ps, new NDList(ids, mask), false).head().close();
                try (KvCache cache = KvCache.create(step, m.numLayers())) {
                    m.forwardCached(ps, ids, mask, cache, null).close();
                    m.forwardCached(ps, next, null, cache, null).close();
                }
            }
            assertEquals(before, manager.getManagedArrays().size(), "arrays piled up");
        }
    }

    @Test
    void gradientsReachProjectionsThroughAScopedForward() {
        LlamaForCausalLM m = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, true)), manager);
        NDArray ids = manager.create(new long[][] {{1, 2, 3, 4, 5}});
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray logits =
                    m.forward(new ParameterStore(manager, false), new NDList(ids), true).head();
            gc.backward(logits.logSoftmax(-1).get(":, :, 3").sum());
        }
        NDArray g =
                m.namedParameters()
                        .get("model.layers.0.self_attn.q_proj.weight")
                        .getArray()
                        .getGradient();
        assertTrue(g.abs().sum().getFloat() > 0, "q_proj got no gradient");
        NDArray ge = m.namedParameters().get("model.embed_tokens.weight").getArray().getGradient();
        assertTrue(ge.abs().sum().getFloat() > 0, "embed_tokens got no gradient");
    }

    @Test
    void ropeLinearScalingDividesPositions() {
        NDArray pos = manager.create(new long[][] {{0, 2, 4, 6}});
        NDList scaled = Rope.cosSin(pos, 8, 10000, 2.0, DataType.FLOAT32);
        NDList plain =
                Rope.cosSin(
                        manager.create(new long[][] {{0, 1, 2, 3}}),
                        8,
                        10000,
                        1.0,
                        DataType.FLOAT32);
        assertClose(plain.get(0), scaled.get(0), 1e-6, "cos");
        assertClose(plain.get(1), scaled.get(1), 1e-6, "sin");
        // rotate-half layout: column j and j + d/2 share a frequency; theta_j = 10000^(-2j/d)
        assertEquals(
                Math.cos(3 * Math.pow(10000, -2.0 / 8)), plain.get(0).getFloat(0, 0, 3, 1), 1e-6);
        assertEquals(
                Math.cos(3 * Math.pow(10000, -2.0 / 8)), plain.get(0).getFloat(0, 0, 3, 5), 1e-6);
    }

    @Test
    void slidingWindowMaskLimitsHowFarBackAQueryLooks() {
        NDArray bias = Attention.causalBias(manager, null, 4, 4, 2, DataType.FLOAT32);
        boolean[] allowed = bias.eq(0).toBooleanArray();
        boolean[] expected = {
            true, false, false, false,
            true, true, false, false,
            false, true, true, false,
            false, false, true, true
        };
        for (int i = 0; i < 16; i++) {
            assertEquals(expected[i], allowed[i], "entry " + i);
        }
    }

    @Test
    void maskOfTheWrongShapeIsRejected() {
        LlamaForCausalLM m = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                forward(
                                        m,
                                        manager,
                                        manager.create(new long[][] {{1, 2, 3}}),
                                        manager.create(new long[][] {{1, 1}})));
        assertTrue(e.getMessage().contains("attention_mask"), e.getMessage());
        assertFalse(e.getMessage().isEmpty());
    }
}
