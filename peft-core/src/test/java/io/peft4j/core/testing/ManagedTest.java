package io.peft4j.core.testing;

import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * A test class whose tests each get a fresh base {@link NDManager}, closed after the test, so no
 * array outlives its test. JUnit runs this class's {@code @BeforeEach} before a subclass's and its
 * {@code @AfterEach} after, so a subclass's own set-up and tear-down may use {@link #manager}.
 */
public abstract class ManagedTest {

    /** The running test's manager. */
    protected NDManager manager;

    /** Opens the test's manager. */
    @BeforeEach
    protected final void openManager() {
        manager = NDManager.newBaseManager();
    }

    /** Closes the test's manager and every array it holds. */
    @AfterEach
    protected final void closeManager() {
        manager.close();
    }
}
