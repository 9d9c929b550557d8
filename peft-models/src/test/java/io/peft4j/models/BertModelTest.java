package io.peft4j.models;

import static io.peft4j.models.TestSupport.assertClose;
import static io.peft4j.models.TestSupport.forward;
import static io.peft4j.models.TestSupport.init;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.peft4j.core.testing.ManagedTest;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BertModelTest extends ManagedTest {

    static BertConfig tinyBert() {
        return BertConfig.builder()
                .vocabSize(40)
                .hiddenSize(16)
                .numHiddenLayers(2)
                .numAttentionHeads(4)
                .intermediateSize(32)
                .maxPositionEmbeddings(24)
                .typeVocabSize(2)
                .numLabels(3)
                .initializerRange(0.3)
                .build();
    }

    @Test
    void namesFollowHuggingFace() {
        BertForSequenceClassification m =
                init(new BertForSequenceClassification(tinyBert()), manager);
        Map<String, Parameter> p = m.namedParameters();
        for (String name :
                List.of(
                        "bert.embeddings.word_embeddings.weight",
                        "bert.embeddings.position_embeddings.weight",
                        "bert.embeddings.token_type_embeddings.weight",
                        "bert.embeddings.LayerNorm.weight",
                        "bert.embeddings.LayerNorm.bias",
                        "bert.encoder.layer.1.attention.self.query.weight",
                        "bert.encoder.layer.1.attention.self.key.bias",
                        "bert.encoder.layer.1.attention.self.value.weight",
                        "bert.encoder.layer.1.attention.output.dense.weight",
                        "bert.encoder.layer.1.attention.output.LayerNorm.weight",
                        "bert.encoder.layer.1.intermediate.dense.weight",
                        "bert.encoder.layer.1.output.dense.weight",
                        "bert.encoder.layer.1.output.LayerNorm.bias",
                        "bert.pooler.dense.weight",
                        "classifier.weight",
                        "classifier.bias")) {
            assertTrue(p.containsKey(name), name + " in " + p.keySet());
        }
        assertEquals(
                new Shape(32, 16),
                p.get("bert.encoder.layer.0.intermediate.dense.weight").getArray().getShape());
        assertEquals(
                new Shape(16, 32),
                p.get("bert.encoder.layer.0.output.dense.weight").getArray().getShape());
        assertEquals(new Shape(3, 16), p.get("classifier.weight").getArray().getShape());
        assertEquals(5 + 2 * 16 + 2 + 2, p.size());
        Map<String, Block> modules = ModulePaths.namedModules(m);
        for (String linear :
                List.of(
                        "bert.encoder.layer.0.attention.self.query",
                        "bert.encoder.layer.0.attention.self.key",
                        "bert.encoder.layer.0.attention.self.value",
                        "bert.encoder.layer.0.attention.output.dense",
                        "bert.encoder.layer.0.intermediate.dense",
                        "bert.encoder.layer.0.output.dense",
                        "bert.pooler.dense",
                        "classifier")) {
            assertInstanceOf(Linear.class, modules.get(linear), linear);
        }
        assertEquals("bert.encoder.layer.1", m.layerPath(1));
        assertEquals(modules.get("bert.encoder.layer.1"), m.layer(1));
    }

    @Test
    void classifierUsesThePooledFirstToken() {
        BertForSequenceClassification cls =
                init(new BertForSequenceClassification(tinyBert()), manager);
        NDArray ids = manager.create(new long[][] {{2, 5, 7, 3}, {2, 9, 3, 0}});
        NDArray mask = manager.create(new long[][] {{1, 1, 1, 1}, {1, 1, 1, 0}});
        NDArray logits = forward(cls, manager, ids, mask);
        assertEquals(new Shape(2, 3), logits.getShape());
        Map<String, Parameter> p = cls.namedParameters();
        NDArray hidden =
                cls.forwardWith(
                                new ParameterStore(manager, false),
                                new NDList(ids, mask),
                                false,
                                null,
                                (i, h) -> h)
                        .head();
        assertClose(logits, hidden, 1e-6, "forwardWith equals forward");
        NDArray bertOut = forward(ModulePaths.namedModules(cls).get("bert"), manager, ids, mask);
        NDArray pooled =
                bertOut.get(":, 0, :")
                        .matMul(p.get("bert.pooler.dense.weight").getArray().transpose())
                        .add(p.get("bert.pooler.dense.bias").getArray())
                        .tanh();
        NDArray expected =
                pooled.matMul(p.get("classifier.weight").getArray().transpose())
                        .add(p.get("classifier.bias").getArray());
        assertClose(expected, logits, 1e-5, "classifier(tanh(pooler(h[:,0])))");
    }

    @Test
    void rightPaddingDoesNotChangeRealPositions() {
        BertModel bert = init(new BertModel(tinyBert()), manager);
        NDArray alone = forward(bert, manager, manager.create(new long[][] {{2, 11, 12, 3}}));
        NDArray padded =
                forward(
                        bert,
                        manager,
                        manager.create(new long[][] {{2, 11, 12, 3, 0, 0}}),
                        manager.create(new long[][] {{1, 1, 1, 1, 0, 0}}));
        assertClose(alone, padded.get(":, :4"), 1e-5, "padded");
        NDArray unmasked =
                forward(bert, manager, manager.create(new long[][] {{2, 11, 12, 3, 0, 0}}));
        assertTrue(
                TestSupport.maxAbsDiff(alone, unmasked.get(":, :4")) > 1e-3,
                "padding must matter without a mask");
        NDArray types =
                forward(
                        bert,
                        manager,
                        manager.create(new long[][] {{2, 11, 12, 3}}),
                        manager.create(new long[][] {{1, 1, 1, 1}}),
                        manager.create(new long[][] {{0, 0, 1, 1}}));
        assertTrue(TestSupport.maxAbsDiff(alone, types) > 1e-3, "token types must matter");
    }

    @Test
    void aMaskWithoutPaddingSkipsTheBiasAndGivesTheSameScores() {
        NDArray full =
                Attention.paddingBias(
                        manager.create(new long[][] {{1, 1, 1}, {1, 1, 1}}), DataType.FLOAT32);
        NDArray padded =
                Attention.paddingBias(
                        manager.create(new long[][] {{1, 1, 0}, {1, 1, 1}}), DataType.FLOAT32);
        assertEquals(Attention.NO_PADDING, full.getName());
        assertTrue(!Attention.NO_PADDING.equals(padded.getName()), "a padded mask must be added");
        assertEquals(-1e9f, padded.get(0, 0, 0, 2).getFloat(), 0f);
        // the skipped add must equal adding the zeros it stands for
        manager.getEngine().setRandomSeed(3);
        NDArray q = manager.randomNormal(new Shape(2, 2, 3, 4));
        NDArray k = manager.randomNormal(new Shape(2, 2, 3, 4));
        NDArray v = manager.randomNormal(new Shape(2, 2, 3, 4));
        NDArray zeros = manager.zeros(new Shape(1, 1, 1, 3));
        NDArray skipped = Attention.scaledDotProduct(q, k, v, full, 0f, false);
        NDArray added = Attention.scaledDotProduct(q, k, v, zeros, 0f, false);
        assertEquals(0.0, TestSupport.maxAbsDiff(skipped, added), 1e-6);
        assertTrue(
                TestSupport.maxAbsDiff(
                                skipped, Attention.scaledDotProduct(q, k, v, padded, 0f, false))
                        > 1e-3,
                "the padded bias must change the output");
    }

    @Test
    void geluIsTheExactErfForm() {
        NDArray x = manager.create(new float[] {-2f, -0.5f, 0f, 1f, 3f});
        float[] y = BertLayer.gelu(x).toFloatArray();
        assertEquals(0.8413447460685429, y[3], 1e-6); // tanh approximation gives 0.841192
        assertEquals(-0.04550026389635842, y[0], 1e-6);
        assertEquals(-0.15426876936299344, y[1], 1e-6);
        assertEquals(0.0, y[2], 0.0);
        assertEquals(2.995950420815375, y[4], 1e-6);
    }

    @Test
    void trainingAppliesDropoutAndGradientsFlow() {
        BertForSequenceClassification cls =
                init(new BertForSequenceClassification(tinyBert()), manager);
        NDArray ids = manager.create(new long[][] {{2, 5, 7, 3}});
        ParameterStore ps = new ParameterStore(manager, false);
        NDArray eval1 = cls.forward(ps, new NDList(ids), false).head();
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray train = cls.forward(ps, new NDList(ids), true).head();
            assertTrue(
                    TestSupport.maxAbsDiff(eval1, train) > 1e-6,
                    "dropout should change a training pass");
            gc.backward(train.get(0, 1));
        }
        NDArray g =
                cls.namedParameters()
                        .get("bert.encoder.layer.0.attention.self.query.weight")
                        .getArray()
                        .getGradient();
        assertTrue(g.abs().sum().getFloat() > 0);
        assertClose(
                eval1,
                cls.forward(ps, new NDList(ids), false).head(),
                1e-6,
                "eval passes are deterministic");
    }

    @Test
    void saveLoadRoundTripAndNewClassifierHead(@TempDir Path dir) {
        BertModel base =
                init(new BertModel(tinyBert().toBuilder().addPoolingLayer(false).build()), manager);
        HfCheckpoint.save(base, dir);
        NDArray ids = manager.create(new long[][] {{2, 5, 7, 3}});
        NDArray expected = forward(base, manager, ids);
        try (Model loaded = HfCheckpoint.load(dir, Device.cpu())) {
            assertInstanceOf(BertModel.class, loaded.getBlock());
            assertClose(
                    expected,
                    forward(loaded.getBlock(), manager, ids),
                    1e-6,
                    "BertModel round trip");
        }
        try (Model cls = HfCheckpoint.loadForSequenceClassification(dir, 5, Device.cpu())) {
            BertForSequenceClassification m = (BertForSequenceClassification) cls.getBlock();
            assertEquals(
                    Arrays.asList(
                            "bert.pooler.dense.weight",
                            "bert.pooler.dense.bias",
                            "classifier.weight",
                            "classifier.bias"),
                    Arrays.asList(cls.getProperty("newly_initialized").split(",")));
            assertEquals(new Shape(1, 5), forward(m, manager, ids).getShape());
            NDArray hidden =
                    m.forwardWith(
                                    new ParameterStore(manager, false),
                                    new NDList(ids),
                                    false,
                                    null,
                                    null)
                            .head();
            assertEquals(new Shape(1, 5), hidden.getShape());
            NDArray encoded = forward(ModulePaths.namedModules(m).get("bert"), manager, ids);
            assertClose(expected, encoded, 1e-6, "encoder weights came from the checkpoint");
            Path out = dir.resolve("cls");
            HfCheckpoint.save(m, out);
            try (Model again = HfCheckpoint.load(out, Device.cpu())) {
                assertInstanceOf(BertForSequenceClassification.class, again.getBlock());
                assertClose(
                        forward(m, manager, ids),
                        forward(again.getBlock(), manager, ids),
                        1e-6,
                        "classifier round trip");
            }
        }
    }

    @Test
    void repeatedForwardsLeaveNoArraysBehind() {
        BertModel bert = init(new BertModel(tinyBert()), manager);
        try (NDManager step = manager.newSubManager()) {
            NDList in =
                    new NDList(
                            step.create(new long[][] {{2, 5, 7}}),
                            step.create(new long[][] {{1, 1, 0}}));
            ParameterStore ps = new ParameterStore(step, false);
            bert.forward(ps, in, false).close();
            int before = manager.getManagedArrays().size();
            for (int i = 0; i < 5; i++) {
                bert.forward(ps, in, false).close();
            }
            assertEquals(before, manager.getManagedArrays().size());
        }
    }
}
