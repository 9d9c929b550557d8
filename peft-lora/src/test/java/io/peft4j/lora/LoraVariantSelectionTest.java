package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import com.google.gson.JsonParser;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The config's keys select the strategies the layers run: {@code use_dora} the variant, {@code
 * init_lora_weights} the init, {@code use_rslora} the scaling; a strategy that does not apply to
 * embeddings is refused there, naming the module, whether or not the embedding already carries a
 * LoRA adapter.
 */
class LoraVariantSelectionTest {

    private static LoraConfig fromJson(String extra) {
        return LoraConfig.fromJson(
                JsonParser.parseString(
                                "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8,"
                                        + " \"target_modules\": [\"q_proj\"]"
                                        + extra
                                        + "}")
                        .getAsJsonObject(),
                w -> {
                    throw new AssertionError(w);
                });
    }

    @Test
    void configKeysSelectTheStrategies() {
        LoraConfig plain = fromJson("");
        assertSame(PlainLoraVariant.CHOICE, plain.variant());
        assertSame(KaimingUniformInit.INSTANCE, plain.initializer());
        assertSame(LoraScaling.STANDARD, plain.scaling());
        assertEquals(2f, plain.scalingFor("q_proj"));

        LoraConfig dora = fromJson(", \"use_dora\": true, \"use_rslora\": true");
        assertSame(DoraLinearVariant.CHOICE, dora.variant());
        assertSame(LoraScaling.RANK_STABILIZED, dora.scaling());
        assertEquals(4f, dora.scalingFor("q_proj")); // 8 / sqrt(4)

        assertSame(
                GaussianInit.INSTANCE,
                fromJson(", \"init_lora_weights\": \"gaussian\"").initializer());
        assertSame(NonZeroInit.INSTANCE, fromJson(", \"init_lora_weights\": false").initializer());
        assertSame(
                OloraInit.INSTANCE, fromJson(", \"init_lora_weights\": \"olora\"").initializer());
        assertInstanceOf(
                PissaInit.class,
                fromJson(", \"init_lora_weights\": \"pissa_niter_3\"").initializer());
        assertFalse(
                PissaInit.class.isInstance(
                        fromJson(", \"init_lora_weights\": true").initializer()));
    }

    @Test
    void onlyDoraCarriesItsOwnTensorAndRewritesItsLegacyKey() {
        String legacy = "base_model.model.layers.0.self_attn.q_proj.lora_magnitude_vector.weight";
        assertEquals(
                "base_model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
                DoraLinearVariant.CHOICE.canonicalKey(legacy));
        assertEquals(legacy, PlainLoraVariant.CHOICE.canonicalKey(legacy));
        try (NDManager manager = NDManager.newBaseManager()) {
            Block base = TestModels.transformer(manager, 1);
            try (PeftModel peft =
                    PeftModel.wrap(
                            base,
                            LoraConfig.builder().rank(2).targets("q_proj").useDora(true).build())) {
                Map<String, ?> tensors = peft.adapter(PeftModel.DEFAULT_ADAPTER).parameters();
                assertEquals(6, tensors.size(), tensors.keySet().toString()); // 2 layers x A, B, m
                assertTrue(
                        tensors.containsKey(
                                "base_model.model.layers.1.self_attn.q_proj.lora_magnitude_vector"));
            }
        }
    }

    @Test
    void embeddingOnlyStrategiesAreRefusedOnEmbeddingsEvenWhenAlreadyWrapped() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Block base = TestModels.transformer(manager, 1);
            IllegalArgumentException fresh =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    PeftModel.wrap(
                                            base,
                                            LoraConfig.builder()
                                                    .rank(2)
                                                    .targets("embed_tokens")
                                                    .useDora(true)
                                                    .build()));
            assertEquals(
                    "DoRA is only supported on Linear; 'embed_tokens' is an embedding",
                    fresh.getMessage());
            try (PeftModel peft =
                    PeftModel.wrap(
                            base, LoraConfig.builder().rank(2).targets("embed_tokens").build())) {
                IllegalArgumentException wrapped =
                        assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        peft.addAdapter(
                                                "pissa",
                                                LoraConfig.builder()
                                                        .rank(2)
                                                        .targets("embed_tokens")
                                                        .init(LoraInit.PISSA)
                                                        .build()));
                assertEquals(
                        "PiSSA init is only supported on Linear; 'embed_tokens' is an embedding",
                        wrapped.getMessage());
                assertEquals(1, peft.adapterNames().size(), "the refused adapter left nothing");
            }
        }
    }
}
