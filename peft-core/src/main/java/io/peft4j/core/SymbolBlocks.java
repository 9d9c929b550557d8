package io.peft4j.core;

import ai.djl.nn.Block;
import ai.djl.nn.SymbolBlock;

/** The check that a model is a block tree adapters can go into, not a traced graph. */
final class SymbolBlocks {

    private SymbolBlocks() {}

    /**
     * @throws IllegalArgumentException when {@code base} is a DJL {@link SymbolBlock} (a
     *     TorchScript / traced model from {@code Criteria} or {@code Model.load} of a {@code .pt}
     *     file, an ONNX Runtime session, ...): it is one opaque graph with no modules to wrap
     */
    static void checkWrappable(Block base) {
        if (base instanceof SymbolBlock) {
            throw new IllegalArgumentException(
                    "Cannot put adapters into "
                            + base.getClass().getName()
                            + ": it is a traced / TorchScript graph (a DJL SymbolBlock, as Criteria or Model.load of a"
                            + " .pt file give), which has no modules to wrap; peft4j needs the model as a block tree."
                            + " Load the Hugging Face checkpoint with peft4j instead (io.peft4j.models.HfCheckpoint.load:"
                            + " LLaMA/Mistral/Qwen2 decoders and BERT encoders; io.peft4j.models.OnnxImport for BERT ONNX"
                            + " exports), or build the block tree in Java (DJL blocks or your own), load the weights into"
                            + " it, and wrap that");
        }
    }
}
