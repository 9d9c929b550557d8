package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** A merge that would put NaN or Inf into the weights is refused and changes nothing. */
class MergeSafetyTest {

    @ParameterizedTest
    @ValueSource(floats = {Float.NaN, Float.POSITIVE_INFINITY})
    void nonFiniteMergeIsRefusedAndWeightsAreUntouched(float bad) {
        try (NDManager manager = NDManager.newBaseManager()) {
            Block base = TestModels.transformer(manager, 1);
            try (PeftModel peft =
                    PeftModel.wrap(
                            base,
                            LoraConfig.builder()
                                    .rank(2)
                                    .targets("q_proj", "v_proj")
                                    .init(LoraInit.RANDOM)
                                    .build())) {
                String poisoned = "base_model.model.layers.1.self_attn.v_proj.lora_B.weight";
                NDArray b =
                        peft.adapter(PeftModel.DEFAULT_ADAPTER)
                                .parameters()
                                .get(poisoned)
                                .getArray();
                float[] values = b.toFloatArray();
                values[3] = bad;
                b.set(values);
                Map<String, byte[]> before = new LinkedHashMap<>();
                for (Pair<String, Parameter> p : base.getParameters()) {
                    before.put(p.getKey(), p.getValue().getArray().toByteArray());
                }
                ArithmeticException e = assertThrows(ArithmeticException.class, peft::merge);
                assertTrue(e.getMessage().contains("layers.1.self_attn.v_proj"), e.getMessage());
                assertFalse(peft.adapter(PeftModel.DEFAULT_ADAPTER).isMerged());
                for (Pair<String, Parameter> p : base.getParameters()) {
                    assertArrayEquals(
                            before.get(p.getKey()),
                            p.getValue().getArray().toByteArray(),
                            "weight changed: " + p.getKey());
                }
            }
        }
    }
}
