package io.peft4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.ParameterStore;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The real LLaMA checkpoint against independently computed float64 reference outputs. */
class Stories260kTest {

    private static Model model;
    private static LlamaForCausalLM lm;
    private static JsonObject fixture;
    private static long[] ids;

    @BeforeAll
    static void load() {
        Path dir = TestSupport.requireShared("models/stories260K");
        fixture = Fixtures.read("stories260K.json");
        ids = Fixtures.longs(fixture.getAsJsonArray("input_ids"));
        model = HfCheckpoint.load(dir, Device.cpu());
        lm = assertInstanceOf(LlamaForCausalLM.class, model.getBlock());
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    @Test
    void configIsReadFromConfigJson() {
        LlamaConfig c = lm.config();
        assertEquals(64, c.hiddenSize());
        assertEquals(5, c.numHiddenLayers());
        assertEquals(8, c.numAttentionHeads());
        assertEquals(4, c.numKeyValueHeads());
        assertEquals(8, c.headDim());
        assertEquals(512, c.vocabSize());
        assertTrue(c.tieWordEmbeddings());
    }

    @Test
    void logitsMatchTheReferenceAtEveryPosition() {
        float[][] expected = Fixtures.matrix(fixture.getAsJsonArray("logits"));
        try (NDManager m = model.getNDManager().newSubManager()) {
            NDArray logits =
                    lm.forward(
                                    new ParameterStore(m, false),
                                    new NDList(m.create(new long[][] {ids})),
                                    false)
                            .head();
            assertEquals(ids.length, logits.getShape().get(1));
            double worst = 0;
            for (int t = 0; t < ids.length; t++) {
                float[] row = logits.get(0, t).toFloatArray();
                for (int v = 0; v < row.length; v++) {
                    worst = Math.max(worst, Math.abs(row[v] - expected[t][v]));
                }
            }
            System.out.printf(
                    "stories260K: max |logit - reference| = %.3g over %d positions%n",
                    worst, ids.length);
            assertTrue(worst < 1e-3, "max logit difference " + worst);
        }
    }

    @Test
    void meanNextTokenNllMatches() {
        try (NDManager m = model.getNDManager().newSubManager()) {
            NDArray logits =
                    lm.forward(
                                    new ParameterStore(m, false),
                                    new NDList(m.create(new long[][] {ids})),
                                    false)
                            .head();
            NDArray logProbs = logits.get(0).logSoftmax(-1);
            double sum = 0;
            for (int t = 0; t + 1 < ids.length; t++) {
                sum -= logProbs.getFloat(t, ids[t + 1]);
            }
            double nll = sum / (ids.length - 1);
            double expected = fixture.get("mean_next_token_nll").getAsDouble();
            System.out.printf("stories260K: mean NLL %.6f (reference %.6f)%n", nll, expected);
            assertEquals(expected, nll, 1e-4);
        }
    }

    @Test
    void greedyContinuationMatches() {
        long[] expected = Fixtures.longs(fixture.getAsJsonArray("greedy_continuation_ids"));
        try (NDManager m = model.getNDManager().newSubManager()) {
            long[] got =
                    Generator.generate(
                                    lm,
                                    java.util.List.of(ids),
                                    GenerationConfig.builder()
                                            .maxNewTokens(expected.length)
                                            .build(),
                                    m)
                            .get(0);
            assertArrayEquals(expected, got);
        }
    }

    @Test
    void float16LoadStaysCloseToFloat32() {
        try (Model half =
                        HfCheckpoint.load(
                                TestSupport.requireShared("models/stories260K"),
                                Device.cpu(),
                                DataType.FLOAT16);
                NDManager m = half.getNDManager().newSubManager()) {
            NDArray w =
                    ((LlamaForCausalLM) half.getBlock())
                            .namedParameters()
                            .get("model.layers.0.self_attn.q_proj.weight")
                            .getArray();
            assertEquals(DataType.FLOAT16, w.getDataType());
            NDArray ref =
                    lm.namedParameters().get("model.layers.0.self_attn.q_proj.weight").getArray();
            assertTrue(TestSupport.maxAbsDiff(ref, w.toType(DataType.FLOAT32, false)) < 1e-2);
        }
    }
}
