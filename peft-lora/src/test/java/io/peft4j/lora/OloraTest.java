package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import com.google.gson.JsonObject;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.tree.ModuleTree;
import org.junit.jupiter.api.Test;

/**
 * OLoRA init: B holds orthonormal columns spanning W's first r columns, A = B^T W, W the residual
 * {@code W - s B A}; the output is unchanged at the start and W comes back on close.
 */
class OloraTest {

    private static final String UP = "layers.0.mlp.up_proj";
    private static final String PREFIX = "base_model.model." + UP;

    @Test
    void orthonormalBAndRowsOfRMoveIntoTheAdapterAndComeBackOnClose() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Block base = TestModels.transformer(manager, 4);
            NDList x = TestModels.input(TestModels.Kind.TRANSFORMER, manager, 2);
            NDArray before =
                    base.forward(new ParameterStore(manager, false), x, false).head().duplicate();
            NDArray w =
                    ModuleTree.of(base)
                            .get(UP)
                            .block()
                            .getDirectParameters()
                            .get("weight")
                            .getArray();
            NDArray w0 = w.duplicate();
            int r = 3;
            float s = 6f / r;
            LoraConfig config =
                    LoraConfig.builder()
                            .rank(r)
                            .alpha(6)
                            .targets("up_proj", "q_proj")
                            .init(LoraInit.OLORA)
                            .build();
            try (PeftModel peft = PeftModel.wrap(base, config)) {
                float scale = Math.max(1f, before.abs().max().getFloat());
                assertTrue(
                        TestModels.maxAbsDiff(peft.forward(x).head(), before) < 1e-4 * scale,
                        "OLoRA keeps the output");
                var params = peft.adapter(PeftModel.DEFAULT_ADAPTER).parameters();
                NDArray a = params.get(PREFIX + ".lora_A.weight").getArray();
                NDArray b = params.get(PREFIX + ".lora_B.weight").getArray();
                assertTrue(
                        TestModels.maxAbsDiff(b.transpose().matMul(b), manager.eye(r)) < 1e-5,
                        "B has orthonormal columns");
                // B spans W's first r columns: projecting them onto B changes nothing
                NDArray firstColumns = w0.get(":, :" + r);
                assertTrue(
                        TestModels.maxAbsDiff(
                                        b.matMul(b.transpose().matMul(firstColumns)), firstColumns)
                                < 1e-5,
                        "B spans W's first r columns");
                assertTrue(TestModels.maxAbsDiff(a, b.transpose().matMul(w0)) < 1e-5, "A = B^T W");
                assertTrue(
                        TestModels.maxAbsDiff(w.add(b.matMul(a).mul(s)), w0) < 1e-5,
                        "W holds the residual W - s B A");
                assertTrue(TestModels.maxAbsDiff(w, w0) > 1e-2, "W lost the adapter's part");
            }
            assertTrue(TestModels.maxAbsDiff(w, w0) < 1e-5, "closing restores W");
        }
    }

    @Test
    void configKeyRoundTripsAndUnsupportedTargetsAreRefused() {
        LoraConfig config =
                LoraConfig.builder().rank(20).targets("lm_head").init(LoraInit.OLORA).build();
        JsonObject json = config.toJson();
        assertEquals("olora", json.get("init_lora_weights").getAsString());
        assertEquals(
                config,
                LoraConfig.fromJson(
                        json,
                        warning -> {
                            throw new AssertionError(warning);
                        }));
        try (NDManager manager = NDManager.newBaseManager()) {
            Block base = TestModels.transformer(manager, 1);
            // lm_head is (32, 16): r = 20 fits LoRA's r <= max(out, in), not OLoRA's min
            IllegalArgumentException tooWide =
                    assertThrows(
                            IllegalArgumentException.class, () -> PeftModel.wrap(base, config));
            assertEquals(
                    "OLoRA init needs r <= min(out, in): r=20 for 'lm_head' of weight (32, 16)",
                    tooWide.getMessage());
            IllegalArgumentException embedding =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    PeftModel.wrap(
                                            base,
                                            LoraConfig.builder()
                                                    .rank(2)
                                                    .targets("embed_tokens")
                                                    .init(LoraInit.OLORA)
                                                    .build()));
            assertEquals(
                    "OLoRA init is only supported on Linear; 'embed_tokens' is an embedding",
                    embedding.getMessage());
        }
    }
}
