package io.peft4j.examples.cli;

import ai.djl.Model;
import io.peft4j.models.TextTokenizer;
import io.peft4j.models.TokenizedModel;

/** A model, its tokenizer and what it is, ready for a task. Closing it closes both. */
public final class LoadedModel extends TokenizedModel {

    private final Task task;
    private final long eosTokenId;

    /**
     * @param model the DJL model holding the block and its weights
     * @param tokenizer the tokenizer (truncating to the max length for classification)
     * @param task the task the block was built for
     * @param name how to refer to it in messages ("minilm", a folder, a file)
     * @param eosTokenId the end-of-sequence id of a decoder, -1 otherwise
     */
    public LoadedModel(
            Model model, TextTokenizer tokenizer, Task task, String name, long eosTokenId) {
        super(model, tokenizer, name);
        this.task = task;
        this.eosTokenId = eosTokenId;
    }

    /**
     * @return the task the block was built for
     */
    public Task task() {
        return task;
    }

    /**
     * @return the end-of-sequence id of a decoder, -1 otherwise
     */
    public long eosTokenId() {
        return eosTokenId;
    }
}
