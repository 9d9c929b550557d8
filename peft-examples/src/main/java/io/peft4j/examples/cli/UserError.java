package io.peft4j.examples.cli;

/**
 * A mistake in what the user asked for (arguments, files, model/adapter mismatch): one line, exit
 * 2.
 */
public final class UserError extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /**
     * @param message the line to print
     */
    public UserError(String message) {
        super(message);
    }
}
