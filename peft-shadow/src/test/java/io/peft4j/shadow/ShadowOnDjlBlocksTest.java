package io.peft4j.shadow;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.tree.ModuleTree;
import org.junit.jupiter.api.Test;

/**
 * ShadowPEFT works between the layers of a transformer stack (peft-core's LayerStack, which
 * peft-models' LLaMA and BERT implement); DJL's TransformerEncoderBlock is a single layer with no
 * stack around it, so wrapping it must fail with a message that says what is needed, and leave the
 * model as it was.
 */
class ShadowOnDjlBlocksTest {

    @Test
    void aDjlEncoderWithoutALayerStackIsRefusedClearly() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Block model = TestModels.djlEncoder(manager, 1);
            String before = ModuleTree.of(model).paths().toString();
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> PeftModel.wrap(model, ShadowConfig.builder().build()));
            assertTrue(
                    e.getMessage().contains("LayerStack")
                            && e.getMessage().contains("SequentialBlock"),
                    e.getMessage());
            assertTrue(
                    before.equals(ModuleTree.of(model).paths().toString()),
                    "a failed wrap leaves the model as it was");
        }
    }
}
