package io.peft4j.examples.cli;

import ai.djl.engine.Engine;
import com.sun.jna.NativeLibrary;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The process settings of the {@code peft4j} command, applied once the arguments are parsed and
 * before any model code runs: offline DJL, one PyTorch thread unless asked, and a quiet stderr.
 *
 * <p>Quiet means: DJL's info lines and its "Failed to detect GPU count" warning (printed on every
 * engine start on a machine without CUDA), and libtorch's own C++ warnings (such as
 * "AutoNonVariableTypeMode is deprecated", printed when a weight is written in place), are hidden
 * unless {@code --verbose}. Our own warnings and every error still show. These are settings of this
 * command-line program; the libraries never change them.
 */
final class QuietRuntime {

    /** c10's log threshold (0 info, 1 warning, 2 error), an exported int in libc10.so. */
    private static final String C10_LOG_LEVEL = "FLAGS_caffe2_log_level";

    private QuietRuntime() {}

    /**
     * Sets the JVM-wide defaults the command relies on; a value the user set with {@code -D} wins.
     * Must run before the first logger is created and before the engine loads.
     *
     * @param verbose show info lines and the engine's warnings
     */
    static void configure(boolean verbose) {
        setIfAbsent("ai.djl.offline", "true");
        String threads = System.getenv("PEFT4J_THREADS");
        setIfAbsent(
                "ai.djl.pytorch.num_threads",
                System.getProperty(
                        "peft4j.threads",
                        threads != null && !threads.isBlank() ? threads.strip() : "1"));
        setIfAbsent("ai.djl.pytorch.num_interop_threads", "1");
        // slf4j-simple (our logging backend, on stderr) reads these when its first logger is made
        setIfAbsent("org.slf4j.simpleLogger.defaultLogLevel", verbose ? "info" : "warn");
        setIfAbsent("org.slf4j.simpleLogger.log.ai.djl.util.cuda", verbose ? "info" : "error");
        setIfAbsent("org.slf4j.simpleLogger.showThreadName", "false");
    }

    /**
     * Loads the engine and, unless verbose, raises libtorch's C++ log threshold to errors. The
     * environment variable TORCH_CPP_LOG_LEVEL is read only by PyTorch's Python module, so the
     * threshold is written directly into libc10's exported flag. Does nothing where the library or
     * the symbol cannot be found (another OS, another engine build).
     *
     * @param verbose keep libtorch's warnings
     */
    static void quietEngine(boolean verbose) {
        Engine.getInstance();
        if (verbose) {
            return;
        }
        try {
            Optional<Path> c10 = loadedLibrary("libc10.so");
            if (c10.isPresent()) {
                NativeLibrary.getInstance(c10.get().toString())
                        .getGlobalVariableAddress(C10_LOG_LEVEL)
                        .setInt(0, 2);
            }
        } catch (RuntimeException | UnsatisfiedLinkError | IOException e) {
            // quietness is cosmetic: never fail a command over it
        }
    }

    /** The path of a shared library this process has loaded, from /proc/self/maps (Linux). */
    private static Optional<Path> loadedLibrary(String fileName) throws IOException {
        Path maps = Path.of("/proc/self/maps");
        if (!Files.isReadable(maps)) {
            return Optional.empty();
        }
        for (String line : Files.readAllLines(maps)) {
            int slash = line.indexOf('/');
            if (slash >= 0 && line.endsWith("/" + fileName)) {
                return Optional.of(Path.of(line.substring(slash)));
            }
        }
        return Optional.empty();
    }

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
