package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LoraConfigJsonTest {

    /** adapter_config.json as Hugging Face peft 0.13 writes it for a Llama LoRA. */
    static final String HF_CONFIG =
            "{\n"
                    + "  \"alpha_pattern\": {},\n  \"auto_mapping\": null,\n"
                    + "  \"base_model_name_or_path\": \"stories260K\",\n  \"bias\": \"none\",\n"
                    + "  \"fan_in_fan_out\": false,\n  \"inference_mode\": true,\n  \"init_lora_weights\": true,\n"
                    + "  \"layer_replication\": null,\n  \"layers_pattern\": null,\n  \"layers_to_transform\": null,\n"
                    + "  \"loftq_config\": {},\n  \"lora_alpha\": 16,\n  \"lora_dropout\": 0.05,\n"
                    + "  \"megatron_config\": null,\n  \"megatron_core\": \"megatron.core\",\n  \"modules_to_save\": null,\n"
                    + "  \"peft_type\": \"LORA\",\n  \"r\": 4,\n  \"rank_pattern\": {},\n  \"revision\": null,\n"
                    + "  \"target_modules\": [\n    \"v_proj\",\n    \"q_proj\"\n  ],\n  \"task_type\": \"CAUSAL_LM\",\n"
                    + "  \"use_dora\": false,\n  \"use_rslora\": false\n}";

    @Test
    void readsPeftsOwnFileWithoutWarnings() {
        List<String> warnings = new ArrayList<>();
        LoraConfig c =
                LoraConfig.fromJson(
                        JsonParser.parseString(HF_CONFIG).getAsJsonObject(), warnings::add);
        assertEquals(List.of(), warnings);
        assertEquals(4, c.rank());
        assertEquals(16f, c.alpha());
        assertEquals(0.05f, c.dropout());
        assertEquals(List.of("v_proj", "q_proj"), c.targets().targetNames());
        assertEquals("CAUSAL_LM", c.taskType());
        assertEquals(4f, c.scalingFor("model.layers.0.self_attn.q_proj"));
    }

    @Test
    void toBuilderKeepsEveryValueTheSeedIncluded() {
        LoraConfig c =
                LoraConfig.builder()
                        .rank(6)
                        .alpha(12.5f)
                        .dropout(0.1f)
                        .targets("q_proj", "v_proj")
                        .layersPattern(List.of("layers"))
                        .init(LoraInit.PISSA)
                        .pissaIterations(4)
                        .rankPattern("q_proj", 2)
                        .alphaPattern("v_proj", 3.5f)
                        .modulesToSave(List.of("classifier"))
                        .baseModelNameOrPath("stories260K")
                        .seed(1234)
                        .build();
        LoraConfig copy = c.toBuilder().build();
        assertEquals(c, copy);
        assertEquals(c.toJson(), copy.toJson());
        assertEquals(1234, copy.seed(), "the seed is not in the JSON but is kept");
        assertEquals(4, copy.pissaIterations());
        LoraConfig changed = c.toBuilder().rank(3).build();
        assertEquals(3, changed.rank());
        assertNotEquals(c, changed, "a changed copy is another value");
    }

    @Test
    void roundTripsThroughJson() {
        LoraConfig c =
                LoraConfig.builder()
                        .rank(6)
                        .alpha(12)
                        .dropout(0.1f)
                        .targetRegex(".*\\.(q|v)_proj")
                        .excludeRegex(".*layers\\.3\\..*")
                        .layersToTransform(List.of(0, 2))
                        .layersPattern(List.of("layers"))
                        .useRslora(true)
                        .useDora(true)
                        .init(LoraInit.GAUSSIAN)
                        .rankPattern("q_proj", 2)
                        .alphaPattern("v_proj", 3)
                        .taskType("SEQ_CLS")
                        .build();
        JsonObject json = c.toJson();
        assertEquals("LORA", json.get("peft_type").getAsString());
        assertEquals("gaussian", json.get("init_lora_weights").getAsString());
        assertEquals("none", json.get("bias").getAsString());
        assertEquals(false, json.get("fan_in_fan_out").getAsBoolean());
        LoraConfig back =
                LoraConfig.fromJson(
                        json,
                        w -> {
                            throw new AssertionError(w);
                        });
        assertEquals(c, back);
        assertEquals((float) (3 / Math.sqrt(6)), back.scalingFor("x.v_proj"), 1e-6);
        assertEquals((float) (12 / Math.sqrt(2)), back.scalingFor("x.q_proj"), 1e-6);
    }

    @Test
    void unknownKeysWarnAndUnsupportedFeaturesAreRefused() {
        JsonObject j = JsonParser.parseString(HF_CONFIG).getAsJsonObject();
        j.addProperty("some_future_option", 3);
        List<String> warnings = new ArrayList<>();
        LoraConfig.fromJson(j, warnings::add);
        assertEquals(1, warnings.size());
        assertTrue(warnings.get(0).contains("some_future_option"));

        JsonObject fan = JsonParser.parseString(HF_CONFIG).getAsJsonObject();
        fan.addProperty("fan_in_fan_out", true);
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> LoraConfig.fromJson(fan, w -> {}))
                        .getMessage()
                        .contains("fan_in_fan_out"));

        JsonObject bias = JsonParser.parseString(HF_CONFIG).getAsJsonObject();
        bias.addProperty("bias", "all");
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> LoraConfig.fromJson(bias, w -> {}))
                        .getMessage()
                        .contains("bias"));

        JsonObject noR = JsonParser.parseString(HF_CONFIG).getAsJsonObject();
        noR.remove("r");
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> LoraConfig.fromJson(noR, w -> {}))
                        .getMessage()
                        .contains("\"r\""));
    }

    @Test
    void builderRejectsBadValues() {
        assertTrue(
                assertThrows(IllegalArgumentException.class, () -> LoraConfig.builder().rank(0))
                        .getMessage()
                        .contains("0"));
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> LoraConfig.builder().dropout(1.5f))
                        .getMessage()
                        .contains("1.5"));
        assertThrows(IllegalStateException.class, () -> LoraConfig.builder().build());
    }
}
