package io.peft4j.tasks;

/** A data file that cannot be read as the task needs; the message names the file and line. */
public final class DataFormatException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    /**
     * @param message what is wrong, with the file (and line) named
     */
    public DataFormatException(String message) {
        super(message);
    }
}
