package io.peft4j.tasks;

import java.util.Objects;

/**
 * One causal-LM training example: a prompt the loss ignores and a completion the model learns to
 * write. Plain text has an empty prompt (every token is learned).
 *
 * @param prompt the context, not scored (may be empty)
 * @param completion the text to learn
 */
public record TextExample(String prompt, String completion) {

    /** The prompt template used for {@code instruction}/{@code output} records (Alpaca's). */
    public static final String INSTRUCTION_TEMPLATE = "### Instruction:\n%s\n\n### Response:\n";

    /**
     * Checks the fields.
     *
     * @param prompt the context
     * @param completion the text to learn
     */
    public TextExample {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(completion, "completion");
    }

    /**
     * Plain text, every token scored.
     *
     * @param text the text
     * @return the example
     */
    public static TextExample plain(String text) {
        return new TextExample("", text);
    }

    /**
     * An instruction and its answer, formatted with {@link #INSTRUCTION_TEMPLATE}.
     *
     * @param instruction the instruction
     * @param output the answer (scored)
     * @return the example
     */
    public static TextExample instruction(String instruction, String output) {
        return new TextExample(String.format(INSTRUCTION_TEMPLATE, instruction), output);
    }

    /**
     * @return true for plain text (no prompt)
     */
    public boolean isPlain() {
        return prompt.isEmpty();
    }
}
