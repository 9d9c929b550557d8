package io.peft4j.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** all-MiniLM-L6-v2 from its safetensors checkpoint against ONNX Runtime's outputs. */
class MiniLmTest {

    private static Model model;
    private static JsonObject fixture;

    @BeforeAll
    static void load() {
        fixture = Fixtures.read("all-minilm-l6-v2.json");
        model =
                HfCheckpoint.load(
                        TestSupport.requireShared("models/all-minilm-l6-v2"), Device.cpu());
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    @Test
    void isABertModelWithoutPooler() {
        BertModel bert = assertInstanceOf(BertModel.class, model.getBlock());
        assertFalse(bert.config().addPoolingLayer());
        assertEquals(6, bert.numLayers());
        assertTrue(
                bert.namedParameters().containsKey("encoder.layer.5.attention.self.query.weight"));
        assertTrue(bert.namedParameters().containsKey("embeddings.LayerNorm.bias"));
    }

    @Test
    void lastHiddenStatesAndCosinesMatchOnnxRuntime() {
        checkAgainstFixture(model.getBlock(), fixture, "safetensors");
    }

    /** Shared with the ONNX import test: per-sentence and padded-batch outputs, then cosines. */
    static void checkAgainstFixture(ai.djl.nn.Block bert, JsonObject fixture, String what) {
        List<long[]> ids = new ArrayList<>();
        List<float[][]> expected = new ArrayList<>();
        for (JsonElement c : fixture.getAsJsonArray("cases")) {
            ids.add(Fixtures.longs(c.getAsJsonObject().getAsJsonArray("input_ids")));
            expected.add(
                    Fixtures.matrix(
                            c.getAsJsonObject().getAsJsonArray("last_hidden_state_onnxruntime")));
        }
        try (NDManager m = NDManager.newBaseManager()) {
            ParameterStore ps = new ParameterStore(m, false);
            double worst = 0;
            for (int i = 0; i < ids.size(); i++) {
                NDArray hidden =
                        bert.forward(ps, new NDList(m.create(new long[][] {ids.get(i)})), false)
                                .head();
                worst = Math.max(worst, maxDiff(hidden.get(0), expected.get(i), ids.get(i).length));
            }
            // the same sentences as one right-padded batch with a mask
            int width = ids.stream().mapToInt(a -> a.length).max().getAsInt();
            long[][] batch = new long[ids.size()][width];
            long[][] mask = new long[ids.size()][width];
            for (int i = 0; i < ids.size(); i++) {
                System.arraycopy(ids.get(i), 0, batch[i], 0, ids.get(i).length);
                java.util.Arrays.fill(mask[i], 0, ids.get(i).length, 1);
            }
            NDArray maskArr = m.create(mask);
            NDArray hidden = bert.forward(ps, new NDList(m.create(batch), maskArr), false).head();
            double worstBatch = 0;
            for (int i = 0; i < ids.size(); i++) {
                worstBatch =
                        Math.max(
                                worstBatch,
                                maxDiff(hidden.get(i), expected.get(i), ids.get(i).length));
            }
            NDArray pooled = Pooling.normalize(Pooling.mean(hidden, maskArr));
            double guitarInstrument = pooled.get(0).dot(pooled.get(1)).getFloat();
            double guitarStocks = pooled.get(0).dot(pooled.get(2)).getFloat();
            JsonObject cos = fixture.getAsJsonObject("mean_pooled_cosine");
            System.out.printf(
                    "all-MiniLM-L6-v2 (%s): max |h - onnxruntime| %.3g per sentence, %.3g in a padded"
                            + " batch; cosines %.6f, %.6f%n",
                    what, worst, worstBatch, guitarInstrument, guitarStocks);
            assertTrue(worst < 1e-4, what + ": last hidden state differs by " + worst);
            assertTrue(worstBatch < 1e-4, what + ": padded batch differs by " + worstBatch);
            assertEquals(cos.get("guitar~instrument").getAsDouble(), guitarInstrument, 1e-5);
            assertEquals(cos.get("guitar~stocks").getAsDouble(), guitarStocks, 1e-5);
        }
    }

    private static double maxDiff(NDArray hidden, float[][] expected, int len) {
        double worst = 0;
        for (int t = 0; t < len; t++) {
            float[] row = hidden.get(t).toFloatArray();
            for (int j = 0; j < row.length; j++) {
                worst = Math.max(worst, Math.abs(row[j] - expected[t][j]));
            }
        }
        return worst;
    }
}
