package io.peft4j.examples.cli;

import java.util.Arrays;
import java.util.stream.Collectors;

/** What a model is used for on the command line. */
public enum Task {
    /** Sentence classification (BERT encoder + classifier head). */
    CLASSIFY("classify"),
    /** Next-token prediction (LLaMA-family decoder). */
    CAUSAL_LM("causal-lm"),
    /** The bare model (BERT's last hidden state); only for {@code forward}. */
    BASE("base");

    private final String flag;

    Task(String flag) {
        this.flag = flag;
    }

    /**
     * @return the command-line spelling
     */
    public String flag() {
        return flag;
    }

    /**
     * Parses the command-line spelling.
     *
     * @param s classify, causal-lm or base
     * @return the task
     */
    public static Task parse(String s) {
        for (Task t : values()) {
            if (t.flag.equals(s)) {
                return t;
            }
        }
        throw new UserError(
                "unknown task '"
                        + s
                        + "'; expected one of "
                        + Arrays.stream(values())
                                .map(Task::flag)
                                .collect(Collectors.joining(", ")));
    }

    @Override
    public String toString() {
        return flag;
    }
}
