package io.peft4j.core.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A safetensors file is malformed. The message always starts with the file and then names the
 * problem, e.g. {@code "model.safetensors: tensor 'w': shape [2, 3] of F32 needs 24 bytes but
 * data_offsets [0, 20] span 20"}.
 */
public class SafetensorsFormatException extends IOException {

    private static final long serialVersionUID = 1L;

    private final transient Path file;

    /**
     * Creates an exception for {@code file}.
     *
     * @param file the offending file
     * @param problem what is wrong with it
     */
    public SafetensorsFormatException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    /**
     * Creates an exception for {@code file} caused by {@code cause}.
     *
     * @param file the offending file
     * @param problem what is wrong with it
     * @param cause the underlying error (e.g. a JSON parser's)
     */
    public SafetensorsFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    /**
     * Returns the offending file.
     *
     * @return the file
     */
    public Path file() {
        return file;
    }
}
