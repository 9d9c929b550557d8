package io.peft4j.examples.cli;

import io.peft4j.tasks.LabeledText;
import java.util.List;

/** Bounds on the number of classes, checked before a head is built (one row per class). */
final class Labels {

    /** The most classes a head may have; far above any text-classification task. */
    static final int MAX = 100_000;

    private Labels() {}

    /**
     * @param n the number of classes
     * @param origin where it came from, as the user wrote it: {@code --num-labels} or {@code
     *     <adapter>/training_run.json "num_labels"}
     * @return n
     */
    static int check(int n, String origin) {
        if (n < 2 || n > MAX) {
            throw new UserError(origin + " must be in [2, " + MAX + "], got " + n);
        }
        return n;
    }

    /** Every label below {@code n}; the error names the file and line of the first that is not. */
    static void checkBelow(List<LabeledText> examples, int n, String origin) {
        for (LabeledText e : examples) {
            if (e.label() >= n) {
                throw new UserError(
                        (e.where() != null ? e.where() : "an example")
                                + ": label "
                                + e.label()
                                + " is not below "
                                + origin
                                + " "
                                + n);
            }
        }
    }
}
