package io.peft4j.mos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.tree.ModuleTree;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** MosConfig: validation messages, JSON round trip, and the checks that need the model. */
class MosConfigTest {

    @Test
    void builderRejectsBadCombinationsNamingTheValues() {
        IllegalArgumentException pv =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                MosConfig.builder()
                                        .equivalentRank(2)
                                        .rank(8)
                                        .privateRank(3)
                                        .targets("q_proj")
                                        .build());
        assertTrue(
                pv.getMessage().contains("p = 3") && pv.getMessage().contains("v = 2"),
                pv.getMessage());
        IllegalArgumentException pr =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                MosConfig.builder()
                                        .equivalentRank(8)
                                        .rank(2)
                                        .privateRank(3)
                                        .targets("q_proj")
                                        .build());
        assertTrue(
                pr.getMessage().contains("p = 3") && pr.getMessage().contains("r = 2"),
                pr.getMessage());
        IllegalArgumentException noPublic =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                MosConfig.builder()
                                        .equivalentRank(2)
                                        .rank(4)
                                        .privateRank(2)
                                        .targets("q_proj")
                                        .build());
        assertTrue(noPublic.getMessage().contains("r = 4"), noPublic.getMessage());
        assertThrows(IllegalArgumentException.class, () -> MosConfig.builder().shardsPerVector(0));
        assertThrows(IllegalArgumentException.class, () -> MosConfig.builder().rank(0));
        assertThrows(IllegalArgumentException.class, () -> MosConfig.builder().dropout(1f));
        MosConfig ok = MosConfig.builder().targets("q_proj").build();
        assertEquals(16f, ok.alpha());
        assertEquals(0.1f, ok.dropout());
        assertEquals(1f, ok.scaling()); // 16 / 16
        assertEquals(0f, MosConfig.builder().targets("q_proj").dropout(0).build().dropout());
    }

    @Test
    void toBuilderKeepsEveryValue() {
        MosConfig c =
                MosConfig.builder()
                        .rank(12)
                        .equivalentRank(6)
                        .shardsPerVector(4)
                        .privateRank(2)
                        .alpha(7.5f)
                        .dropout(0.05f)
                        .seed(99)
                        .targets("q_proj", "v_proj")
                        .modulesToSave(List.of("score"))
                        .taskType("CAUSAL_LM")
                        .build();
        MosConfig copy = c.toBuilder().build();
        assertEquals(c, copy);
        assertEquals(99, copy.seed());
        assertEquals(7.5f, copy.alpha());
        assertEquals(List.of("score"), copy.modulesToSave());
        assertNotEquals(c, c.toBuilder().seed(100).build(), "a changed copy is another value");
    }

    @Test
    void attachRejectsShardsThatDoNotDivideAndTooSmallPools() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Block base = TestModels.transformer(manager, 1);
            // hidden 16: l = 3 divides neither in nor out
            IllegalArgumentException l =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    PeftModel.wrap(
                                            base,
                                            MosConfig.builder()
                                                    .equivalentRank(2)
                                                    .rank(2)
                                                    .shardsPerVector(3)
                                                    .privateRank(1)
                                                    .targets("q_proj")
                                                    .build()));
            assertTrue(
                    l.getMessage().contains("l = 3")
                            && l.getMessage().contains("in = 16")
                            && l.getMessage().contains("layers.*.self_attn.q_proj"),
                    l.getMessage());
            // r - p = 4 > (v - p) L = 1 * 2
            IllegalArgumentException pool =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    PeftModel.wrap(
                                            base,
                                            MosConfig.builder()
                                                    .equivalentRank(2)
                                                    .rank(5)
                                                    .shardsPerVector(2)
                                                    .privateRank(1)
                                                    .targets("q_proj")
                                                    .build()));
            assertTrue(
                    pool.getMessage().contains("r - p = 5 - 1 = 4")
                            && pool.getMessage().contains("= 2"),
                    pool.getMessage());
            // nothing was left behind by the failed attaches
            assertTrue(
                    ModuleTree.of(base).nodes().stream()
                            .noneMatch(n -> n.block() instanceof MosLayer));
        }
    }

    @Test
    void jsonRoundTripsAndWarnsOnUnknownKeys() {
        MosConfig c =
                MosConfig.builder()
                        .equivalentRank(4)
                        .rank(12)
                        .shardsPerVector(4)
                        .privateRank(2)
                        .alpha(32)
                        .dropout(0.05f)
                        .seed(9)
                        .targets("q_proj", "v_proj")
                        .layersToTransform(List.of(0, 3))
                        .taskType("CAUSAL_LM")
                        .build();
        JsonObject j = c.toJson();
        assertEquals("MOS", j.get("peft_type").getAsString());
        assertEquals(12, j.get("r").getAsInt());
        assertEquals(4, j.get("equivalent_rank").getAsInt());
        assertEquals(4, j.get("shards_per_vector").getAsInt());
        assertEquals(2, j.get("private_rank").getAsInt());
        j.addProperty("future_option", 1);
        List<String> warnings = new ArrayList<>();
        MosConfig back =
                MosConfig.fromJson(
                        JsonParser.parseString(j.toString()).getAsJsonObject(), warnings::add);
        assertEquals(c, back);
        assertEquals(1, warnings.size());
        assertTrue(warnings.get(0).contains("future_option"));
        JsonObject missing = c.toJson();
        missing.remove("shards_per_vector");
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> MosConfig.fromJson(missing, w -> {}));
        assertTrue(e.getMessage().contains("shards_per_vector"));
    }

    @Test
    void typesAreThePathWithLayerIndicesStarred() {
        assertEquals(
                "model.layers.*.self_attn.q_proj",
                MosInjector.groupOf("model.layers.12.self_attn.q_proj"));
        assertEquals(
                "encoder.layer.*.output.dense",
                MosInjector.groupOf("encoder.layer.3.output.dense"));
        assertEquals("Linear_1", MosInjector.groupOf("Linear_1"));
    }
}
