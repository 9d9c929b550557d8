package io.peft4j.masa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.tree.ModuleTree;
import io.peft4j.models.LlamaConfig;
import io.peft4j.models.LlamaForCausalLM;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * MASA from scratch: attention built from shared atoms at initialisation, trained, saved, loaded.
 */
class SharedAtomModelTest {

    private static final int L = 3;
    private static final int H = 16;
    private static final int VOCAB = 32;
    private NDManager manager;
    @TempDir Path tmp;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
        Engine.getInstance().setRandomSeed(5);
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private LlamaForCausalLM llama() {
        LlamaConfig c =
                LlamaConfig.builder()
                        .vocabSize(VOCAB)
                        .hiddenSize(H)
                        .intermediateSize(24)
                        .numHiddenLayers(L)
                        .numAttentionHeads(2)
                        .numKeyValueHeads(2)
                        .maxPositionEmbeddings(32)
                        .tieWordEmbeddings(false)
                        .build();
        LlamaForCausalLM model = new LlamaForCausalLM(c);
        model.initialize(manager, DataType.FLOAT32, new Shape(1, 8));
        return model;
    }

    private NDArray ids(long seed, int batch, int len) {
        Random r = new Random(seed);
        long[][] v = new long[batch][len];
        for (long[] row : v) {
            for (int i = 0; i < len; i++) {
                row[i] = r.nextInt(VOCAB);
            }
        }
        return manager.create(v);
    }

    private static NDArray nextTokenLoss(LlamaForCausalLM lm, NDArray ids, boolean training) {
        long len = ids.getShape().get(1);
        NDArray logits =
                lm.forward(new ParameterStore(ids.getManager(), false), new NDList(ids), training)
                        .head();
        NDArray logp = logits.get(":, :" + (len - 1) + ", :").logSoftmax(-1);
        NDArray target = ids.get(":, 1:").expandDims(-1);
        return logp.gather(target, -1).neg().mean();
    }

    private NDArray logits(LlamaForCausalLM lm, NDArray ids) {
        return lm.forward(new ParameterStore(manager, false), new NDList(ids), false).head();
    }

    @Test
    void attentionIsBuiltFromSharedAtomsAndTrains() throws Exception {
        LlamaForCausalLM model = llama();
        long vanilla =
                model.namedParameters().values().stream().mapToLong(p -> p.getArray().size()).sum();
        MasaConfig config = MasaConfig.builder().atoms(1).build(); // S = L/3
        try (SharedAtomModel masa = SharedAtomModel.build(model, config, manager, 42)) {
            for (String type : new String[] {"q_proj", "k_proj", "v_proj", "o_proj"}) {
                for (int l = 0; l < L; l++) {
                    String path = "model.layers." + l + ".self_attn." + type;
                    assertTrue(ModuleTree.of(model).get(path).block() instanceof AtomLinear, path);
                    assertSame(
                            masa.sharedAtoms("model.layers.0.self_attn." + type),
                            masa.sharedAtoms(path),
                            "one atoms tensor per type");
                }
            }
            // 4 types x (S*h*h + L*S), LLaMA's projections have no bias
            assertEquals(4L * (H * H + L), masa.attentionParameters());
            Map<String, Parameter> trainable = masa.trainableParameters();
            assertFalse(
                    trainable.keySet().stream().anyMatch(k -> k.endsWith("q_proj.weight")),
                    "no dense attention weight is trained");
            assertTrue(
                    trainable.containsKey("model.layers.0-2.self_attn.q_proj.masa_atoms"),
                    trainable.keySet().toString());
            assertTrue(trainable.containsKey("model.layers.1.self_attn.q_proj.masa_coefficients"));
            assertTrue(
                    trainable.containsKey("model.embed_tokens.weight")
                            && trainable.containsKey("lm_head.weight"),
                    "pretraining trains the rest of the model too");
            long denseAttention = 4L * L * H * H;
            long all = trainable.values().stream().mapToLong(p -> p.getArray().size()).sum();
            assertEquals(
                    vanilla - denseAttention + masa.attentionParameters(),
                    all,
                    "trainable = vanilla - dense attention + atoms/coefficients");

            NDArray x = ids(1, 4, 12);
            NDArray atomsBefore =
                    masa.sharedAtoms("model.layers.0.self_attn.q_proj").getArray().duplicate();
            NDArray coeffBefore =
                    masa.coefficients("model.layers.2.self_attn.v_proj").getArray().duplicate();
            float before = nextTokenLoss(model, x, false).getFloat();
            NDArray data = ids(2, 8, 12); // one fixed batch: the loss must fall when memorising it
            float start = nextTokenLoss(model, data, false).getFloat();
            TrainingData td =
                    new TrainingData() {
                        @Override
                        public int size() {
                            return 8;
                        }

                        @Override
                        public NDList batch(NDManager m, int[] indices) {
                            return new NDList(m.create(data.toLongArray(), data.getShape()));
                        }
                    };
            FineTuner.builder()
                    .learningRate(1e-2)
                    .maxSteps(20)
                    .batchSize(8)
                    .seed(3)
                    .progress(false)
                    .build()
                    .fit(masa, (b, t) -> nextTokenLoss(model, b.head(), t), td);
            float after = nextTokenLoss(model, data, false).getFloat();
            assertTrue(
                    after < start - 0.1,
                    "training must lower the loss on the batch: " + start + " -> " + after);
            assertTrue(
                    masa.sharedAtoms("model.layers.0.self_attn.q_proj")
                                    .getArray()
                                    .sub(atomsBefore)
                                    .abs()
                                    .max()
                                    .getFloat()
                            > 0,
                    "atoms must train");
            assertTrue(
                    masa.coefficients("model.layers.2.self_attn.v_proj")
                                    .getArray()
                                    .sub(coeffBefore)
                                    .abs()
                                    .max()
                                    .getFloat()
                            > 0,
                    "coefficients must train");
            assertTrue(Float.isFinite(before) && Float.isFinite(after));

            // save, then a fresh twin (another init) loads to the same outputs
            NDArray trained = logits(model, x).duplicate();
            Path file = tmp.resolve("model.masa.safetensors");
            masa.save(file);
            Engine.getInstance().setRandomSeed(99);
            LlamaForCausalLM other = llama();
            try (SharedAtomModel twin = SharedAtomModel.build(other, config, manager, 7)) {
                assertTrue(
                        logits(other, x).sub(trained).abs().max().getFloat() > 1e-3,
                        "a fresh twin differs before loading");
                twin.load(file);
                assertTrue(
                        logits(other, x).sub(trained).abs().max().getFloat() < 1e-6,
                        "loaded model must give the same outputs");
                assertNotSame(
                        twin.sharedAtoms("model.layers.0.self_attn.q_proj"),
                        masa.sharedAtoms("model.layers.0.self_attn.q_proj"));
            }
            // a file of another S does not fit, named
            LlamaForCausalLM third = llama();
            try (SharedAtomModel wider =
                    SharedAtomModel.build(
                            third, MasaConfig.builder().atoms(3).build(), manager, 7)) {
                String msg =
                        assertThrows(IllegalArgumentException.class, () -> wider.load(file))
                                .getMessage();
                assertTrue(
                        msg.contains("model.layers.0-2.self_attn.q_proj.masa_atoms")
                                && msg.contains("expected (3, 16, 16)"),
                        msg);
            }
        }
        assertTrue(
                ModuleTree.of(model).get("model.layers.0.self_attn.q_proj").block()
                        instanceof Linear,
                "close puts the Linear back");
    }

    @Test
    void groupsAndBadConfigs() {
        LlamaForCausalLM model = llama();
        try (SharedAtomModel masa =
                SharedAtomModel.build(
                        model,
                        MasaConfig.builder().atoms(1).groups(3).targets("q_proj").build(),
                        manager,
                        1)) {
            assertEquals(3, masa.dictionaryKeys().size());
            assertNotSame(
                    masa.sharedAtoms("model.layers.0.self_attn.q_proj"),
                    masa.sharedAtoms("model.layers.1.self_attn.q_proj"));
        }
        String tooMany =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        SharedAtomModel.build(
                                                llama(),
                                                MasaConfig.builder().atoms(L + 1).build(),
                                                manager,
                                                1))
                        .getMessage();
        assertTrue(tooMany.contains("num_atoms " + (L + 1)), tooMany);
        String groups =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        SharedAtomModel.build(
                                                llama(),
                                                MasaConfig.builder().atoms(1).groups(2).build(),
                                                manager,
                                                1))
                        .getMessage();
        assertTrue(groups.contains("does not divide the 3 layers"), groups);
        String notLinear =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        SharedAtomModel.build(
                                                llama(),
                                                MasaConfig.builder()
                                                        .atoms(1)
                                                        .targets("self_attn")
                                                        .build(),
                                                manager,
                                                1))
                        .getMessage();
        assertTrue(notLinear.contains("plain ai.djl.nn.core.Linear"), notLinear);
    }
}
