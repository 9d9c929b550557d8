package io.peft4j.shadow;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import com.google.gson.JsonObject;
import io.peft4j.core.PeftModel;
import io.peft4j.models.BertForSequenceClassification;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shadow's own classification head (the reference's default) against the shared one. */
class ShadowHeadTest {

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

    private static float diff(NDArray a, NDArray b) {
        return a.sub(b).abs().max().getFloat();
    }

    private static Parameter classifierWeight(BertForSequenceClassification model) {
        return model.namedParameters().get("classifier.weight");
    }

    @Test
    void ownHeadIsATrainableCopyThatOnlyTheShadowPathReads() throws Exception {
        BertForSequenceClassification base = ShadowTestModels.bertClassifier(m, 5, 2);
        NDArray ids = ShadowTestModels.ids(m, 1, 3, 5);
        NDArray baseHead = classifierWeight(base).getArray().duplicate();
        NDList sharedOut;
        try (PeftModel shared =
                PeftModel.wrap(
                        base, ShadowConfig.builder().shadowHead(ShadowHead.SHARED).build())) {
            assertFalse(
                    shared.adapter("default").parameters().keySet().stream()
                            .anyMatch(k -> k.startsWith("shadow_classifier_head")),
                    "the shared head adds no tensor");
            sharedOut = ShadowModel.of(shared).forwardWithShadow(new NDList(ids), false);
        }
        try (PeftModel peft = PeftModel.wrap(base, ShadowConfig.builder().build())) {
            Map<String, Parameter> params = peft.adapter("default").parameters();
            Parameter own = params.get("shadow_classifier_head.weight");
            assertNotNull(
                    own,
                    "the default (own head) adds shadow_classifier_head.weight; keys "
                            + params.keySet());
            assertNotNull(params.get("shadow_classifier_head.bias"));
            assertEquals(
                    0f,
                    diff(own.getArray(), baseHead),
                    "the own head starts as a copy of the base head");
            assertTrue(peft.trainableParameters().containsValue(own), "the own head is trained");

            ShadowModel shadow = ShadowModel.of(peft);
            NDList out = shadow.forwardWithShadow(new NDList(ids), false);
            assertEquals(
                    0f,
                    diff(out.get(1), sharedOut.get(1)),
                    "a fresh copy scores as the shared head does");
            assertEquals(0f, diff(out.get(0), sharedOut.get(0)));

            own.getArray().addi(0.5f); // move the copy: only the shadow's logits follow
            NDList moved = shadow.forwardWithShadow(new NDList(ids), false);
            assertTrue(
                    diff(moved.get(1), out.get(1)) > 1e-3,
                    "the shadow logits must use the own head");
            assertEquals(
                    0f,
                    diff(moved.get(0), out.get(0)),
                    "the base path must not read the shadow's head");
            assertEquals(
                    0f,
                    diff(classifierWeight(base).getArray(), baseHead),
                    "the base head is untouched");

            // gradient of the shadow loss reaches the copy, not the (frozen) base head
            try (NDManager step = m.newSubManager();
                    GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDList o = shadow.forwardWithShadow(new NDList(ids.duplicate()), true);
                gc.backward(o.get(1).square().mean());
                assertTrue(
                        own.getArray().getGradient().abs().sum().getFloat() > 0,
                        "no gradient reached the own head");
                assertFalse(
                        classifierWeight(base).requiresGradient(), "the base head stays frozen");
            }
            own.getArray().getGradient().subi(own.getArray().getGradient());

            // saved and loaded with the adapter
            peft.save(tmp.resolve("a"));
        }
        // an adapter saved before the option (no own head in the file) is refused with the hint
        BertForSequenceClassification older = ShadowTestModels.bertClassifier(m, 5, 2);
        try (PeftModel shared =
                PeftModel.wrap(
                        older, ShadowConfig.builder().shadowHead(ShadowHead.SHARED).build())) {
            shared.save(tmp.resolve("old"));
        }
        Path oldConfig = tmp.resolve("old").resolve("adapter_config.json");
        JsonObject oj =
                com.google.gson.JsonParser.parseString(java.nio.file.Files.readString(oldConfig))
                        .getAsJsonObject();
        oj.remove("shadow_head");
        java.nio.file.Files.writeString(oldConfig, oj.toString());
        String msg =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        PeftModel.load(
                                                ShadowTestModels.bertClassifier(m, 5, 2),
                                                tmp.resolve("old")))
                        .getMessage();
        assertTrue(
                msg.contains("shadow_classifier_head.weight")
                        && msg.contains("\"shadow_head\": \"shared\""),
                msg);

        BertForSequenceClassification fresh = ShadowTestModels.bertClassifier(m, 5, 2);
        try (PeftModel loaded = PeftModel.load(fresh, tmp.resolve("a"))) {
            Parameter own =
                    loaded.adapter("default").parameters().get("shadow_classifier_head.weight");
            assertEquals(
                    0f, diff(own.getArray(), baseHead.add(0.5f)), "the trained own head must load");
            assertEquals(ShadowHead.OWN, ((ShadowConfig) loaded.config("default")).shadowHead());
        }
    }

    @Test
    void ownHeadIgnoresTheBasePathsModulesToSaveCopy() {
        BertForSequenceClassification base = ShadowTestModels.bertClassifier(m, 6, 2);
        NDArray ids = ShadowTestModels.ids(m, 2, 3, 5);
        try (PeftModel peft =
                PeftModel.wrap(
                        base,
                        ShadowConfig.builder().modulesToSave(List.of("classifier")).build())) {
            ShadowModel shadow = ShadowModel.of(peft);
            NDList before = shadow.forwardWithShadow(new NDList(ids), false);
            Parameter baseCopy =
                    peft.trainableParameters().entrySet().stream()
                            .filter(e -> e.getKey().equals("base_model.model.classifier.weight"))
                            .findFirst()
                            .orElseThrow(
                                    () ->
                                            new AssertionError(
                                                    "no modules_to_save copy in "
                                                            + peft.trainableParameters().keySet()))
                            .getValue();
            baseCopy.getArray().addi(0.5f);
            NDList after = shadow.forwardWithShadow(new NDList(ids), false);
            assertTrue(
                    diff(after.get(0), before.get(0)) > 1e-3,
                    "the base path reads its modules_to_save copy");
            assertEquals(
                    0f,
                    diff(after.get(1), before.get(1)),
                    "the shadow path reads only its own head");
        }
    }

    @Test
    void causalLmHasNoOwnHeadAndConfigRoundTrips() {
        try (PeftModel peft =
                PeftModel.wrap(ShadowTestModels.llama(m, 5, 3), ShadowConfig.builder().build())) {
            assertNull(
                    ((ShadowAdapter) peft.adapter("default")).weights().head,
                    "a causal LM scores the shadow with the frozen base head");
        }
        ShadowConfig shared = ShadowConfig.builder().shadowHead(ShadowHead.SHARED).build();
        JsonObject j = shared.toJson();
        assertEquals("shared", j.get("shadow_head").getAsString());
        assertEquals(shared, ShadowConfig.fromJson(j, w -> {}));
        assertEquals(
                "own", ShadowConfig.builder().build().toJson().get("shadow_head").getAsString());
        j.remove("shadow_head");
        assertEquals(
                ShadowHead.OWN,
                ShadowConfig.fromJson(j, w -> {}).shadowHead(),
                "a missing key is the default, own");
        j.addProperty("shadow_head", "copy");
        String msg =
                assertThrows(
                                IllegalArgumentException.class,
                                () -> ShadowConfig.fromJson(j, w -> {}))
                        .getMessage();
        assertTrue(msg.contains("shadow_head") && msg.contains("\"copy\""), msg);
        assertArrayEquals(new String[] {"score", "classifier"}, ShadowHeadCopy.HEAD_NAMES);
    }
}
