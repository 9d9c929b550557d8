package io.peft4j.examples.cli;

import ai.djl.Model;
import ai.djl.nn.Block;
import io.peft4j.models.TextTokenizer;

/**
 * A model, its tokenizer and what it is, ready for a task. Closing it closes both.
 *
 * @param model the DJL model holding the block and its weights
 * @param tokenizer the tokenizer (truncating to the max length for classification)
 * @param task the task the block was built for
 * @param name how to refer to it in messages ("minilm", a folder, a file)
 * @param eosTokenId the end-of-sequence id of a decoder, -1 otherwise
 */
public record LoadedModel(
        Model model, TextTokenizer tokenizer, Task task, String name, long eosTokenId)
        implements AutoCloseable {

    /**
     * @return the block to wrap and run
     */
    public Block block() {
        return model.getBlock();
    }

    @Override
    public void close() {
        try {
            tokenizer.close();
        } finally {
            model.close();
        }
    }
}
