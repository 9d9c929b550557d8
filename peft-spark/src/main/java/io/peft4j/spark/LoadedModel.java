package io.peft4j.spark;

import ai.djl.Model;
import ai.djl.nn.Block;
import io.peft4j.models.TextTokenizer;
import java.util.Objects;

/** A base model loaded on an executor, with the tokenizer that turns text into its inputs. */
public final class LoadedModel implements AutoCloseable {

    private final Model model;
    private final TextTokenizer tokenizer;
    private final String description;

    /**
     * @param model the DJL model (its block is what adapters wrap); closed with this object
     * @param tokenizer the tokenizer for its inputs; closed with this object
     * @param description what was loaded from where, for error messages
     */
    public LoadedModel(Model model, TextTokenizer tokenizer, String description) {
        this.model = Objects.requireNonNull(model, "model");
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.description = Objects.requireNonNull(description, "description");
    }

    /**
     * @return the model's block
     */
    public Block block() {
        return model.getBlock();
    }

    /**
     * @return the tokenizer
     */
    public TextTokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * @return what was loaded from where
     */
    public String description() {
        return description;
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
