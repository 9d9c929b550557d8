package io.peft4j.core.io;

import java.io.IOException;

/**
 * A consumer that may throw {@link IOException}, so that file-writing lambdas need no wrapping.
 *
 * @param <T> the type of the consumed value
 */
@FunctionalInterface
public interface IoConsumer<T> {

    /**
     * Consumes {@code value}.
     *
     * @param value the value
     * @throws IOException if writing fails
     */
    void accept(T value) throws IOException;
}
