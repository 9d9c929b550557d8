package io.peft4j.core.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * TargetedConfigBuilder, TargetedConfig and ConfigJson, through the test-only {@link TinyConfig}.
 */
class ConfigJsonTest {

    private static JsonObject parse(String json) {
        return JsonParser.parseString(json).getAsJsonObject();
    }

    private static String pretty(JsonObject j) {
        return new GsonBuilder().setPrettyPrinting().serializeNulls().create().toJson(j);
    }

    private static TinyConfig roundTrip(TinyConfig c) {
        List<String> warnings = new ArrayList<>();
        TinyConfig back = TinyConfig.fromJson(parse(c.toJson().toString()), warnings::add);
        assertEquals(List.of(), warnings, "a config's own file draws no warning");
        assertEquals(
                pretty(c.toJson()),
                pretty(back.toJson()),
                "the file is written back byte for byte");
        return back;
    }

    private static String error(String json) {
        return assertThrows(
                        IllegalArgumentException.class,
                        () -> TinyConfig.fromJson(parse(json), w -> {}))
                .getMessage();
    }

    @Test
    void settersChainInAnyOrderAndReturnTheMethodsBuilder() {
        // compiles only because every shared setter returns TinyConfig.Builder
        TinyConfig c =
                TinyConfig.builder()
                        .size(3)
                        .targets("q_proj")
                        .exclude(List.of("x"))
                        .size(5)
                        .taskType("SEQ_CLS")
                        .build();
        assertEquals(5, c.size);
        assertEquals(List.of("q_proj"), c.targets().targetNames());
        assertEquals(List.of("x"), c.targets().excludeNames());
        assertEquals("SEQ_CLS", c.taskType());
    }

    @Test
    void everyCommonKeyRoundTrips() {
        TinyConfig names =
                roundTrip(
                        TinyConfig.builder()
                                .size(2)
                                .targets("q_proj", "v_proj")
                                .exclude(List.of("head"))
                                .layersToTransform(List.of(3, 0))
                                .layersPattern(List.of("layers", "h"))
                                .modulesToSave(List.of("classifier"))
                                .taskType("CAUSAL_LM")
                                .baseModelNameOrPath("stories260K")
                                .build());
        assertEquals(List.of("q_proj", "v_proj"), names.targets().targetNames());
        assertEquals(List.of("head"), names.targets().excludeNames());
        assertEquals(Set.of(0, 3), names.targets().layersToTransform());
        assertEquals(List.of("layers", "h"), names.targets().layersPattern());
        assertEquals(List.of("classifier"), names.modulesToSave());
        assertEquals("CAUSAL_LM", names.taskType());
        assertEquals("stories260K", names.baseModelNameOrPath());
        assertEquals(2, names.size);

        TinyConfig regex =
                roundTrip(
                        TinyConfig.builder()
                                .targetRegex(".*\\.(q|v)_proj")
                                .excludeRegex(".*\\.3\\..*")
                                .build());
        assertEquals(Optional.of(".*\\.(q|v)_proj"), regex.targets().targetRegex());
        assertEquals(Optional.of(".*\\.3\\..*"), regex.targets().excludeRegex());
        assertTrue(roundTrip(TinyConfig.builder().allLinear().build()).targets().isAllLinear());
    }

    @Test
    void writesSortedKeysWithNullsForUnsetValuesAndModulesToSaveOnlyWhenSet() {
        JsonObject j =
                TinyConfig.builder().targets("q").layersToTransform(List.of(2, 0)).build().toJson();
        assertEquals(
                List.of(
                        "base_model_name_or_path",
                        "exclude_modules",
                        "inference_mode",
                        "layers_pattern",
                        "layers_to_transform",
                        "peft_type",
                        "size",
                        "target_modules",
                        "task_type"),
                new ArrayList<>(j.keySet()));
        assertTrue(j.get("base_model_name_or_path").isJsonNull());
        assertTrue(j.get("exclude_modules").isJsonNull());
        assertEquals("[0,2]", j.get("layers_to_transform").toString(), "layers are written sorted");
        assertEquals("TINY", j.get("peft_type").getAsString());
        assertFalse(j.get("inference_mode").getAsBoolean());

        JsonObject saved =
                TinyConfig.builder().targets("q").modulesToSave(List.of("score")).build().toJson();
        List<String> keys = new ArrayList<>(saved.keySet());
        assertEquals(
                "modules_to_save", keys.get(keys.size() - 1), "appended after the sorted keys");
    }

    @Test
    void readsPeftsOtherSpellingsAndTakesNullAsAbsent() {
        TinyConfig c =
                TinyConfig.fromJson(
                        parse(
                                "{\"size\": 1, \"target_modules\": [\"q\"], \"layers_to_transform\": 4,"
                                        + " \"layers_pattern\": \"layers\", \"exclude_modules\": null, \"modules_to_save\": null, \"task_type\": null}"),
                        w -> {});
        assertEquals(Set.of(4), c.targets().layersToTransform());
        assertEquals(List.of("layers"), c.targets().layersPattern());
        assertEquals(List.of(), c.targets().excludeNames());
        assertEquals(Optional.empty(), c.targets().excludeRegex());
        assertEquals(List.of(), c.modulesToSave());
        assertEquals(null, c.taskType());
    }

    @Test
    void badValuesNameTheKey() {
        assertEquals("Tiny config is missing \"target_modules\"", error("{\"size\": 1}"));
        assertEquals(
                "Tiny config is missing \"target_modules\"",
                error("{\"size\": 1, \"target_modules\": null}"));
        assertEquals(
                "target_modules must not be empty", error("{\"size\": 1, \"target_modules\": []}"));
        assertTrue(
                error("{\"size\": 1, \"target_modules\": \"(\"}")
                        .startsWith("target_modules regex '(' is not valid"));
        assertTrue(
                error("{\"size\": 1, \"target_modules\": [\"q\"], \"exclude_modules\": \"[\"}")
                        .startsWith("exclude_modules regex '[' is not valid"));
        assertEquals(
                "\"target_modules\" must be a string or a list of strings, found {}",
                error("{\"size\": 1, \"target_modules\": {}}"));
        assertEquals(
                "\"target_modules\" must be a list of strings, found [[\"q\"]]",
                error("{\"size\": 1, \"target_modules\": [[\"q\"]]}"));
        assertEquals(
                "\"layers_to_transform\" must be an integer in int range, found 1.5",
                error(
                        "{\"size\": 1, \"target_modules\": [\"q\"], \"layers_to_transform\": [1.5]}"));
        assertEquals(
                "\"layers_to_transform\" must be an integer in int range, found 99999999999",
                error(
                        "{\"size\": 1, \"target_modules\": [\"q\"], \"layers_to_transform\": 99999999999}"));
        assertEquals(
                "\"layers_to_transform\" must be an integer, found \"2\"",
                error(
                        "{\"size\": 1, \"target_modules\": [\"q\"], \"layers_to_transform\": [\"2\"]}"));
        assertEquals(
                "layers_to_transform holds -1; expected indices >= 0",
                error("{\"size\": 1, \"target_modules\": [\"q\"], \"layers_to_transform\": [-1]}"));
        assertEquals(
                "\"modules_to_save\" must be a list of strings, found \"classifier\"",
                error(
                        "{\"size\": 1, \"target_modules\": [\"q\"], \"modules_to_save\": \"classifier\"}"));
        assertEquals(
                "\"task_type\" must be a string, found [\"SEQ_CLS\"]",
                error("{\"size\": 1, \"target_modules\": [\"q\"], \"task_type\": [\"SEQ_CLS\"]}"));
        assertEquals(
                "size must be >= 1, got 0", error("{\"size\": 0, \"target_modules\": [\"q\"]}"));
    }

    private enum Pick {
        LARGEST,
        SMALLEST,
        RANDOM
    }

    @Test
    void optionalReadsSetOnlyPresentKeysAndNameTheKeyOfABadValue() {
        // the typed reads went to ConfigKey (ConfigValuesTest); text stays here
        JsonObject j = parse("{\"s\": \"x\", \"n\": 3, \"gone\": null}");
        List<Object> got = new ArrayList<>();
        ConfigJson.readString(j, "s", got::add);
        ConfigJson.readString(j, "n", got::add);
        ConfigJson.readString(j, "gone", got::add);
        ConfigJson.readString(j, "missing", got::add);
        assertEquals(List.of("x", "3"), got);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> ConfigJson.readString(parse("{\"s\": [1]}"), "s", v -> {}));
        assertTrue(e.getMessage().contains("\"s\""), e.getMessage());
    }

    @Test
    void enumOptionsAreLowerCaseAndParseIgnoringCaseListingTheChoices() {
        assertEquals("smallest", ConfigJson.jsonName(Pick.SMALLEST));
        assertEquals(Pick.RANDOM, ConfigJson.enumValue(Pick.class, " Random ", "pick"));
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> ConfigJson.enumValue(Pick.class, "median", "pick"));
        assertEquals(
                "pick must be \"largest\", \"smallest\" or \"random\", got \"median\"",
                e.getMessage());
        ConfigJson.requireOnly(parse("{\"bias\": \"none\"}"), "bias", "none", "Tiny");
        ConfigJson.requireOnly(parse("{\"bias\": null}"), "bias", "none", "Tiny");
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                ConfigJson.requireOnly(
                                        parse("{\"bias\": \"all\"}"), "bias", "none", "Tiny"));
        assertEquals("bias=\"all\" is not supported by Tiny; only \"none\"", e.getMessage());
    }

    @Test
    void unknownKeysWarnOnceEachAndKnownOnesDoNot() {
        JsonObject j =
                TinyConfig.builder().targets("q").modulesToSave(List.of("c")).build().toJson();
        j.addProperty("future_option", 3);
        j.addProperty("inference_mode", true); // peft's, not ours: known, no warning
        j.addProperty("lora_alpha", 16); // another method's key
        List<String> warnings = new ArrayList<>();
        TinyConfig.fromJson(j, warnings::add);
        assertEquals(
                List.of(
                        "unknown Tiny config key \"future_option\" ignored",
                        "unknown Tiny config key \"lora_alpha\" ignored"),
                warnings);
    }

    @Test
    void defaultTargetsApplyOnlyWhenNoneAreSetAndKeepEarlierExclusions() {
        assertTrue(TinyConfig.allLinearByDefault().build().targets().isAllLinear());
        TinyConfig excluded = TinyConfig.allLinearByDefault().exclude(List.of("out")).build();
        assertTrue(excluded.targets().isAllLinear());
        assertEquals(List.of("out"), excluded.targets().excludeNames());
        assertEquals(
                List.of("q"),
                TinyConfig.allLinearByDefault().targets("q").build().targets().targetNames());
        IllegalStateException none =
                assertThrows(IllegalStateException.class, () -> TinyConfig.builder().build());
        assertTrue(none.getMessage().contains("no target modules given"), none.getMessage());
    }

    @Test
    void aFailedTargetSetterLeavesTheDefault() {
        TinyConfig.Builder b = TinyConfig.allLinearByDefault();
        assertThrows(IllegalArgumentException.class, () -> b.targets(List.of()));
        assertTrue(b.build().targets().isAllLinear());
    }

    @Test
    void toBuilderKeepsTheCommonSettings() {
        TinyConfig c =
                TinyConfig.builder()
                        .size(4)
                        .targetRegex(".*q")
                        .layersToTransform(List.of(1))
                        .modulesToSave(List.of("classifier"))
                        .taskType("SEQ_CLS")
                        .baseModelNameOrPath("bert")
                        .build();
        TinyConfig copy = c.toBuilder().build();
        assertEquals(pretty(c.toJson()), pretty(copy.toJson()));
        assertEquals(c.targets(), copy.targets());
        TinyConfig changed = c.toBuilder().taskType("CAUSAL_LM").build();
        assertNotEquals(pretty(c.toJson()), pretty(changed.toJson()));
        assertEquals("SEQ_CLS", c.taskType(), "the original is unchanged");
        assertEquals(c.targets(), changed.targets());
    }
}
