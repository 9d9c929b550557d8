package io.peft4j.core;

/** A scope that changes which adapters run, undone on {@link #close()}. */
@FunctionalInterface
public interface AdapterScope extends AutoCloseable {

    /** Restores the state before the scope. */
    @Override
    void close();
}
