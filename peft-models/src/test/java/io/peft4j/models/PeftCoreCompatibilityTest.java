package io.peft4j.models;

import static io.peft4j.models.TestSupport.assertClose;
import static io.peft4j.models.TestSupport.forward;
import static io.peft4j.models.TestSupport.init;
import static io.peft4j.models.TestSupport.tinyLlama;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.testing.ManagedTest;
import io.peft4j.core.tree.AdapterWrapper;
import io.peft4j.core.tree.ModuleReplacer;
import io.peft4j.core.tree.ModuleTree;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The models as peft-core sees them: Hugging Face paths, swappable children, layer hooks. */
class PeftCoreCompatibilityTest extends ManagedTest {

    /** A wrapper adding a constant to its base module's first output. */
    static final class Shift extends AbstractBlock implements AdapterWrapper {
        private final Block base;
        private final float amount;

        Shift(Block base, float amount) {
            this.base = base;
            this.amount = amount;
        }

        @Override
        public Block baseLayer() {
            return base;
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDList out = base.forward(ps, inputs, training, params);
            NDList shifted = new NDList(out.head().add(amount));
            shifted.addAll(out.subNDList(1));
            return shifted;
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return base.getOutputShapes(inputShapes);
        }
    }

    @Test
    void peftCoreTreeSeesTheHuggingFacePaths() {
        LlamaForCausalLM llama =
                init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        Set<String> paths = new LinkedHashSet<>(ModuleTree.of(llama).paths());
        assertEquals(withoutRoot(ModulePaths.namedModules(llama).keySet()), paths);
        assertTrue(paths.contains("model.layers.1.self_attn.q_proj"));
        assertTrue(paths.contains("model.layers.0.mlp.down_proj"));
        assertTrue(paths.contains("lm_head"));
        BertModel bert = init(new BertModel(BertModelTest.tinyBert()), manager);
        Set<String> bertPaths = new LinkedHashSet<>(ModuleTree.of(bert).paths());
        assertEquals(withoutRoot(ModulePaths.namedModules(bert).keySet()), bertPaths);
        assertTrue(bertPaths.contains("encoder.layer.0.attention.self.query"));
        assertTrue(bertPaths.contains("encoder.layer.1.attention.output.dense"));
        assertTrue(bertPaths.contains("encoder.layer.1.intermediate.dense"));
        assertTrue(bertPaths.contains("encoder.layer.1.output.dense"));
    }

    private static Set<String> withoutRoot(Set<String> paths) {
        Set<String> out = new LinkedHashSet<>(paths);
        out.remove("");
        return out;
    }

    @Test
    void replacedProjectionsEmbeddingsAndLayersAreTheOnesThatRun() {
        LlamaForCausalLM llama =
                init(new LlamaForCausalLM(tinyLlama("qwen2", 4, 2, true)), manager);
        NDArray ids = manager.create(new long[][] {{1, 2, 3, 4}});
        NDArray before = forward(llama, manager, ids);
        for (String path :
                List.of(
                        "model.layers.1.self_attn.v_proj",
                        "model.layers.0.mlp.up_proj",
                        "model.embed_tokens",
                        "model.layers.1",
                        "lm_head",
                        "model.norm")) {
            ModuleTree tree = ModuleTree.of(llama);
            Block original = tree.get(path).block();
            ModuleReplacer.Replacement r =
                    ModuleReplacer.replace(tree.get(path), new Shift(original, 0.5f));
            double diff = TestSupport.maxAbsDiff(before, forward(llama, manager, ids));
            assertTrue(diff > 1e-3, path + ": the wrapper must run, diff " + diff);
            if (path.equals("model.layers.1")) {
                assertTrue(
                        llama.layer(1) instanceof Shift, "LayerStack.layer sees the replacement");
            }
            try (KvCache cache = KvCache.create(manager, llama.numLayers())) {
                NDArray cached =
                        llama.forwardCached(
                                new ParameterStore(manager, false), ids, null, cache, null);
                assertClose(
                        forward(llama, manager, ids),
                        cached,
                        2e-5,
                        path + ": cached path uses it too");
            }
            r.undo();
            assertSame(original, ModuleTree.of(llama).get(path).block());
            assertClose(before, forward(llama, manager, ids), 1e-6, path + " undone");
        }
    }

    @Test
    void layerHooksSeeEveryBoundaryAndCanChangeTheState() {
        LlamaForCausalLM llama =
                init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, false)), manager);
        NDArray ids = manager.create(new long[][] {{5, 6, 7}});
        ParameterStore ps = new ParameterStore(manager, false);
        List<Integer> seen = new ArrayList<>();
        NDArray hooked =
                llama.forwardWith(
                                ps,
                                new NDList(ids),
                                false,
                                null,
                                (i, h) -> {
                                    seen.add(i);
                                    assertEquals(new Shape(1, 3, 16), h.getShape());
                                    return h;
                                })
                        .head();
        assertEquals(List.of(0, 1, 2), seen);
        assertClose(forward(llama, manager, ids), hooked, 1e-6, "identity hook");
        // zero state before the final norm: RMSNorm(0) = 0, so the logits are all zero
        NDArray zeroed =
                llama.forwardWith(
                                ps,
                                new NDList(ids),
                                false,
                                null,
                                (i, h) -> i == llama.numLayers() ? h.zerosLike() : h)
                        .head();
        assertEquals(0f, zeroed.abs().max().getFloat());
        BertModel bert = init(new BertModel(BertModelTest.tinyBert()), manager);
        List<Integer> bertSeen = new ArrayList<>();
        NDArray out =
                bert.forwardWith(
                                ps,
                                new NDList(ids),
                                false,
                                null,
                                (i, h) -> {
                                    bertSeen.add(i);
                                    return h;
                                })
                        .head();
        assertEquals(List.of(0, 1, 2), bertSeen);
        assertClose(forward(bert, manager, ids), out, 1e-6, "BERT identity hook");
    }
}
