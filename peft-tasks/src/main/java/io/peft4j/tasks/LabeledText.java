package io.peft4j.tasks;

import java.util.Objects;

/**
 * One text with its class label.
 *
 * @param text the text (not empty)
 * @param label the class index, {@code >= 0}
 * @param where the file and line it was read from ({@code train.tsv:12}), for messages; null when
 *     made in code. Not part of the example's value: equality ignores it.
 */
public record LabeledText(String text, int label, String where) {

    /**
     * An example made in code.
     *
     * @param text the text
     * @param label the class index
     */
    public LabeledText(String text, int label) {
        this(text, label, null);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LabeledText other && other.label == label && other.text.equals(text);
    }

    @Override
    public int hashCode() {
        return Objects.hash(text, label);
    }

    /**
     * Checks the fields.
     *
     * @param text the text
     * @param label the class index
     * @param where where it was read, or null
     */
    public LabeledText {
        Objects.requireNonNull(text, "text");
        if (label < 0) {
            throw new IllegalArgumentException("label must be >= 0, got " + label);
        }
    }
}
