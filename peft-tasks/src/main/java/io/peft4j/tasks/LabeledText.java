package io.peft4j.tasks;

import java.util.Objects;

/**
 * One text with its class label.
 *
 * @param text the text (not empty)
 * @param label the class index, {@code >= 0}
 */
public record LabeledText(String text, int label) {

    /**
     * Checks the fields.
     *
     * @param text the text
     * @param label the class index
     */
    public LabeledText {
        Objects.requireNonNull(text, "text");
        if (label < 0) {
            throw new IllegalArgumentException("label must be >= 0, got " + label);
        }
    }
}
