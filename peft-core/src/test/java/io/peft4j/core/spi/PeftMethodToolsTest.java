package io.peft4j.core.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import io.peft4j.core.train.AdamW;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * What {@link PeftMethod} gives tools by default, on the test-only {@link TinyConfig} method: its
 * names, the config from the common options and typed overrides (an unknown key refused naming the
 * accepted ones), AdamW, no clipping of its own, one bench setting.
 */
class PeftMethodToolsTest {

    private static final PeftMethod TINY =
            new AbstractPeftMethod<TinyConfig>(
                    TinyConfig.PEFT_TYPE,
                    "Tiny",
                    TinyConfig.class,
                    ConfigJson.targetedKeys("size"),
                    TinyConfig::fromJson,
                    (context, config, name) -> {
                        throw new AssertionError("not reached");
                    }) {};

    private static final MethodOptions OPTIONS =
            new MethodOptions(
                    4, 8f, 0.1f, List.of("q_proj", "v_proj"), List.of("head"), "CAUSAL_LM");

    @Test
    void namesAndDisplayNameDefaultToThePeftType() {
        assertEquals(List.of("tiny"), TINY.names());
        assertEquals("Tiny", TINY.displayName());
    }

    @Test
    void optionsBecomePeftsCommonKeys() {
        JsonObject json = TINY.optionsJson(OPTIONS);
        assertEquals("TINY", json.get("peft_type").getAsString());
        assertEquals(4, json.get("r").getAsInt());
        assertEquals(8f, json.get("lora_alpha").getAsFloat());
        assertEquals(0.1f, json.get("lora_dropout").getAsFloat());
        assertEquals("[\"q_proj\",\"v_proj\"]", json.get("target_modules").toString());
        assertEquals("[\"head\"]", json.get("modules_to_save").toString());
        assertEquals("CAUSAL_LM", json.get("task_type").getAsString());
        assertEquals(
                "all-linear",
                TINY.optionsJson(OPTIONS.withTargets(List.of("all-linear")))
                        .get("target_modules")
                        .getAsString());
        assertEquals(
                ".*q_proj",
                TINY.optionsJson(OPTIONS.withTargets(List.of("re:.*q_proj")))
                        .get("target_modules")
                        .getAsString());
        assertFalse(
                TINY.optionsJson(new MethodOptions(1, 1f, 0f, List.of(), List.of(), null))
                        .has("task_type"));
    }

    @Test
    void overridesAreTypedAndTheMethodReadsThem() {
        List<String> warnings = new ArrayList<>();
        Map<String, String> set = new LinkedHashMap<>();
        set.put("size", "3");
        TinyConfig c = (TinyConfig) TINY.config(OPTIONS, set, warnings::add);
        assertEquals(3, c.size);
        assertEquals(List.of("head"), c.modulesToSave());
        // the common keys Tiny does not read are reported, as in any adapter_config.json
        assertTrue(
                warnings.stream().anyMatch(w -> w.contains("\"lora_alpha\"")), warnings.toString());
        assertEquals("3", ConfigJson.fromText("3").toString(), "a number stays a number");
        assertEquals("\"largest\"", ConfigJson.fromText("largest").toString());
        assertEquals("[1,2]", ConfigJson.fromText("[1,2]").toString());
        assertEquals("true", ConfigJson.fromText("true").toString());
    }

    @Test
    void anUnknownKeyIsRefusedNamingItAndTheAcceptedKeys() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> TINY.config(OPTIONS, Map.of("sise", "3"), w -> {}));
        assertTrue(
                e.getMessage().startsWith("unknown Tiny config key \"sise\"; accepted keys: "),
                e.getMessage());
        assertTrue(
                e.getMessage().contains("size") && e.getMessage().contains("target_modules"),
                e.getMessage());
    }

    @Test
    void aValueOfTheWrongTypeIsRefusedNamingTheKey() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> TINY.config(OPTIONS, Map.of("size", "three"), w -> {}));
        assertTrue(e.getMessage().startsWith("TINY config {"), e.getMessage());
        assertTrue(e.getMessage().contains("size"), e.getMessage());
    }

    @Test
    void aMethodWithoutDeclaredKeysTakesNoOverride() {
        PeftMethod bare =
                new AbstractPeftMethod<TinyConfig>(
                        TinyConfig.PEFT_TYPE,
                        TinyConfig.class,
                        TinyConfig::fromJson,
                        (context, config, name) -> null) {};
        assertTrue(bare.configKeys().isEmpty());
        assertEquals("TINY", bare.displayName());
        assertThrows(
                IllegalArgumentException.class,
                () -> bare.config(OPTIONS, Map.of("size", "3"), w -> {}));
    }

    @Test
    void trainingAndBenchDefaults() {
        assertInstanceOf(AdamW.class, TINY.newOptimizer(null));
        assertTrue(TINY.maxGradNorm().isEmpty());
        List<BenchSetting> bench = TINY.benchSettings();
        assertEquals(1, bench.size());
        BenchSetting b = bench.get(0);
        assertEquals("tiny", b.key());
        assertEquals("Tiny", b.label());
        assertEquals(BenchSetting.Targets.ADAPTER, b.targets());
        assertEquals(8, b.rank());
        assertEquals(16f, b.alpha());
        assertTrue(b.overrides().isEmpty());
        assertEquals(1.0, b.learningRateScale("SEQ_CLS"));
    }

    @Test
    void benchSettingsKeepTheirOverridesAndRates() {
        BenchSetting b =
                BenchSetting.builder("full", "full FT")
                        .targets(BenchSetting.Targets.ALL_LINEAR)
                        .rank(2)
                        .alpha(4f)
                        .set("density", "1.0")
                        .learningRateScale("SEQ_CLS", 0.1)
                        .build();
        assertEquals(Map.of("density", "1.0"), b.overrides());
        assertEquals(0.1, b.learningRateScale("SEQ_CLS"));
        assertEquals(1.0, b.learningRateScale("CAUSAL_LM"));
        assertThrows(UnsupportedOperationException.class, () -> b.overrides().put("x", "y"));
        assertThrows(IllegalArgumentException.class, () -> BenchSetting.builder("", "x"));
        assertThrows(
                IllegalArgumentException.class,
                () -> BenchSetting.builder("k", "l").learningRateScale("SEQ_CLS", 0));
    }
}
