package io.peft4j.spark;

import ai.djl.Model;
import io.peft4j.models.TextTokenizer;
import io.peft4j.models.TokenizedModel;

/** A base model loaded on an executor, with the tokenizer that turns text into its inputs. */
public final class LoadedModel extends TokenizedModel {

    /**
     * @param model the DJL model (its block is what adapters wrap); closed with this object
     * @param tokenizer the tokenizer for its inputs; closed with this object
     * @param description what was loaded from where, for error messages
     */
    public LoadedModel(Model model, TextTokenizer tokenizer, String description) {
        super(model, tokenizer, description);
    }

    /**
     * @return what was loaded from where
     */
    public String description() {
        return name();
    }
}
