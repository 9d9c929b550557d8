package io.peft4j.models;

import ai.djl.Model;
import ai.djl.nn.Block;
import java.util.Objects;

/**
 * A loaded base model with the tokenizer that turns text into its inputs, and a name for messages.
 * Closing it closes both. The command line and the Spark executors each extend it with what they
 * add (the task, the end-of-sequence id).
 */
public class TokenizedModel implements AutoCloseable {

    private final Model model;
    private final TextTokenizer tokenizer;
    private final String name;

    /**
     * Holds a model and its tokenizer, which are closed with this object.
     *
     * @param model the DJL model (its block is what adapters wrap)
     * @param tokenizer the tokenizer for its inputs
     * @param name what was loaded (from where), for messages
     * @throws NullPointerException if any of them is null
     */
    public TokenizedModel(Model model, TextTokenizer tokenizer, String name) {
        this.model = Objects.requireNonNull(model, "model");
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.name = Objects.requireNonNull(name, "name");
    }

    /** {@return the DJL model holding the block and its weights} */
    public final Model model() {
        return model;
    }

    /** {@return the model's block: what adapters wrap and tasks run} */
    public final Block block() {
        return model.getBlock();
    }

    /** {@return the tokenizer for the model's inputs} */
    public final TextTokenizer tokenizer() {
        return tokenizer;
    }

    /** {@return what was loaded (from where), for messages} */
    public final String name() {
        return name;
    }

    /** Closes the tokenizer, then the model (also when closing the tokenizer fails). */
    @Override
    public void close() {
        try {
            tokenizer.close();
        } finally {
            model.close();
        }
    }
}
