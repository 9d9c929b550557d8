package io.peft4j.core.testing;

import io.peft4j.core.engine.MklCpuDispatch;
import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Makes the explicit {@link MklCpuDispatch#install()} call for a test JVM, as an application's
 * {@code main} would, before any test runs a DJL operation: without it the suite's GEMMs run MKL's
 * generic path on AMD CPUs (about 2x slower). Registered through {@code META-INF/services} in
 * peft-core's test classes and test-jar, so every module that uses the test-jar gets it. Tests of
 * the shim itself run in child JVMs.
 */
public final class MklForTests implements LauncherSessionListener {

    @Override
    public void launcherSessionOpened(LauncherSession session) {
        MklCpuDispatch.install();
    }
}
