package io.peft4j.core.engine;

import com.sun.jna.Library;
import com.sun.jna.NativeLibrary;
import io.peft4j.core.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lets the oneMKL built into libtorch use the vector units of an AMD CPU.
 *
 * <p>oneMKL picks its code path from the CPU, and on a CPU that is not Intel's it takes the generic
 * SSE2 path whatever the CPU supports: on this project's AMD EPYC machines (AVX-512) libtorch's
 * float GEMMs ran 2.3x slower than the CPU allows (a 4096x384 by 384x1536 {@code linear} 47.6 ms vs
 * 21.4 ms at one thread), slower than Debian's OpenBLAS-backed torch 1.13 and ONNX Runtime. MKL
 * asks one function, {@code mkl_serv_intel_cpu_true}, whether the CPU is Intel's; {@link
 * #install()} loads, globally, a tiny generated library that answers yes, so that the dynamic
 * linker binds libtorch's lazy reference to it (the well-known "fake Intel" shim, done in process
 * instead of with {@code LD_PRELOAD}). MKL then dispatches on the instruction sets the CPU reports,
 * which the AMD CPU really has; only the vendor test is bypassed.
 *
 * <p>It is one explicit call, first thing in {@code main}, before the process's first DJL operation
 * (MKL keeps the path it chose at its first call): loading native code into a process is the
 * application's decision, so no peft4j class does it as a side effect of being loaded or used.
 * peft4j's own programs (the {@code peft4j} CLI, the examples, the benchmarks) make the call. On an
 * AMD CPU where it was not made (or made too late), {@code PeftModel} and {@code FineTuner} print
 * one line on stderr, once per process, saying what it costs and how to enable it (stderr, not a
 * logger: most applications bind no SLF4J backend and would never see it). It does nothing on other
 * CPUs and operating systems, and {@code -Dpeft4j.mkl.amd=false} turns it off (and the line with
 * it). {@link #codeBranch()} says which path MKL chose.
 */
public final class MklCpuDispatch {

    /** System property that turns the shim off when set to {@code false}. */
    public static final String PROPERTY = "peft4j.mkl.amd";

    static final String SYMBOL = "mkl_serv_intel_cpu_true";
    private static final int RTLD_LAZY = 0x1;
    private static final int RTLD_GLOBAL = 0x100;
    private static final Logger LOG = LoggerFactory.getLogger(MklCpuDispatch.class);

    /** What {@link #install()} did. */
    public enum Status {
        /** The shim is loaded: MKL chooses its path by instruction set. */
        INSTALLED,
        /** Not an AMD CPU on Linux x86-64: MKL's own choice is already right, nothing was done. */
        NOT_NEEDED,
        /**
         * The shim is loaded, but MKL had already picked its generic path at an earlier call in
         * this process, and keeps it: {@link #install()} must run before the first DJL operation.
         */
        TOO_LATE,
        /** Turned off with {@code -Dpeft4j.mkl.amd=false}. */
        DISABLED,
        /** It could not be loaded (the reason is in the detail); MKL keeps its generic path. */
        FAILED
    }

    /**
     * The result of {@link #install()}.
     *
     * @param status what was done
     * @param detail why, or where the shim was loaded from
     */
    public record Outcome(Status status, String detail) {}

    private static Outcome outcome;
    private static boolean advised;

    /**
     * What the missing shim costs, measured on this project's AMD EPYC machine (one thread, a
     * 4096x384 by 384x1536 {@code linear}: 47.6 ms on MKL's generic path, 21.4 ms with the shim).
     */
    static final String COST =
            "libtorch's MKL runs float GEMMs on its generic SSE2 path on AMD CPUs,"
                    + " about 2.2x slower (a 4096x384 by 384x1536 linear: 47.6 vs 21.4 ms at one thread)";

    /** Held so the library stays loaded for the life of the process (never read, on purpose). */
    @SuppressWarnings("UnusedVariable")
    private static NativeLibrary shim;

    private MklCpuDispatch() {}

    /**
     * Loads the shim once per process where it is needed; later calls return the first outcome.
     * Never throws: a failure leaves MKL as it was and is logged.
     *
     * @return what was done
     */
    public static synchronized Outcome install() {
        if (outcome == null) {
            outcome = tryInstall();
            if (outcome.status() == Status.INSTALLED) {
                LOG.info("MKL CPU dispatch: {} ({})", outcome.status(), outcome.detail());
            } else if (outcome.status() == Status.FAILED || outcome.status() == Status.TOO_LATE) {
                advise(
                        "MklCpuDispatch.install() "
                                + outcome.status()
                                + " ("
                                + outcome.detail()
                                + ")");
            }
        }
        return outcome;
    }

    /**
     * Prints, once per process, the line that says what running without the shim costs on an AMD
     * CPU and how to enable it, when {@link #install()} was not called (peft4j's entry points call
     * this; it reads /proc/cpuinfo, nothing native). Nothing happens on other CPUs, after a
     * successful {@link #install()}, or with {@code -Dpeft4j.mkl.amd=false}.
     */
    public static synchronized void adviseIfMissing() {
        if (outcome != null
                || advised
                || "false".equalsIgnoreCase(System.getProperty(PROPERTY, "true"))
                || !amdLinuxX86()) {
            return;
        }
        advise("MklCpuDispatch.install() was not called");
    }

    private static synchronized void advise(String what) {
        if (advised) {
            return;
        }
        advised = true;
        System.err.println(
                "peft4j: "
                        + what
                        + ": "
                        + COST
                        + ". Call io.peft4j.core.engine.MklCpuDispatch.install()"
                        + " first thing in main, before any DJL operation (or set -D"
                        + PROPERTY
                        + "=false to silence this).");
    }

    private static boolean amdLinuxX86() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        return os.contains("linux")
                && (arch.equals("amd64") || arch.equals("x86_64"))
                && cpuVendor().orElse("").equals("AuthenticAMD");
    }

    private static Outcome tryInstall() {
        if ("false".equalsIgnoreCase(System.getProperty(PROPERTY, "true"))) {
            return new Outcome(Status.DISABLED, "-D" + PROPERTY + "=false");
        }
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return new Outcome(Status.NOT_NEEDED, "not Linux x86-64 (" + os + ", " + arch + ")");
        }
        Optional<String> vendor = cpuVendor();
        if (vendor.isEmpty() || !vendor.get().equals("AuthenticAMD")) {
            return new Outcome(Status.NOT_NEEDED, "CPU vendor " + vendor.orElse("unknown"));
        }
        try {
            Path file = stubFile();
            NativeLibrary lib =
                    NativeLibrary.getInstance(
                            file.toString(),
                            Map.of(Library.OPTION_OPEN_FLAGS, RTLD_LAZY | RTLD_GLOBAL));
            int answer = lib.getFunction(SYMBOL).invokeInt(new Object[0]);
            if (answer != 1) {
                return new Outcome(
                        Status.FAILED,
                        file + ": " + SYMBOL + " returned " + answer + ", expected 1");
            }
            shim = lib;
            // libtorch already loaded: MKL may have chosen its path before the shim was there
            // (asking now is safe: with the shim in place an unchosen path becomes the vector one)
            if (loadedLibrary("libtorch_cpu.so").isPresent()) {
                Optional<String> branch = autoBranch();
                if (branch.isPresent() && branch.get().equals("COMPATIBLE")) {
                    return new Outcome(
                            Status.TOO_LATE,
                            "MKL had already chosen its generic path before "
                                    + SYMBOL
                                    + " was loaded from "
                                    + file
                                    + ": call MklCpuDispatch.install() before the"
                                    + " process's first DJL operation");
                }
            }
            return new Outcome(Status.INSTALLED, "AMD CPU; " + SYMBOL + " from " + file);
        } catch (IOException | RuntimeException | LinkageError e) {
            return new Outcome(Status.FAILED, e.toString());
        }
    }

    /**
     * The folder the library is written to: beside DJL's own native libraries (its engine cache,
     * where libtorch is loaded from, so it is on a file system that allows mapping code, which a
     * {@code noexec} /tmp would not).
     */
    static Path stubDir() {
        return ai.djl.util.Utils.getEngineCacheDir().resolve("peft4j-native");
    }

    /** The generated library, written once per content (atomically: test JVMs run side by side). */
    static Path stubFile() throws IOException {
        byte[] elf = ElfStub.sharedObject("libpeft4j_mkl_cpu.so", Map.of(SYMBOL, 1));
        Path dir = stubDir();
        Path file =
                dir.resolve(
                        String.format("libpeft4j_mkl_cpu-%08x.so", java.util.Arrays.hashCode(elf)));
        if (!Files.exists(file) || Files.size(file) != elf.length) {
            Files.createDirectories(dir);
            AtomicFiles.write(file, out -> out.write(elf));
        }
        return file;
    }

    static Optional<String> cpuVendor() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            return lines.filter(l -> l.startsWith("vendor_id"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .findFirst();
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * The code path MKL chose in the loaded libtorch, as MKL's
     * conditional-numerical-reproducibility branch name ({@code AVX512_E1}, {@code AVX2}, {@code
     * COMPATIBLE} for the generic SSE2 path, ...), or empty when libtorch is not loaded or has no
     * MKL. Asking fixes MKL's choice, so it runs {@link #install()} first.
     *
     * @return the branch name
     */
    public static Optional<String> codeBranch() {
        install();
        return autoBranch();
    }

    private static Optional<String> autoBranch() {
        Optional<Path> torch = loadedLibrary("libtorch_cpu.so");
        if (torch.isEmpty()) {
            return Optional.empty();
        }
        try {
            NativeLibrary lib = NativeLibrary.getInstance(torch.get().toString());
            int branch = lib.getFunction("mkl_serv_cbwr_get_auto_branch").invokeInt(new Object[0]);
            return Optional.of(branchName(branch));
        } catch (RuntimeException | LinkageError e) {
            return Optional.empty();
        }
    }

    /** MKL_CBWR_* values of mkl_cbwr.h. */
    static String branchName(int branch) {
        List<String> names =
                List.of(
                        "0",
                        "AUTO",
                        "COMPATIBLE",
                        "SSE2",
                        "4",
                        "5",
                        "SSSE3",
                        "SSE4_1",
                        "SSE4_2",
                        "AVX",
                        "AVX2",
                        "AVX512_MIC",
                        "AVX512",
                        "AVX512_MIC_E1",
                        "AVX512_E1");
        return branch >= 0 && branch < names.size() ? names.get(branch) : String.valueOf(branch);
    }

    /** A library mapped into this process, by file name (from /proc/self/maps). */
    static Optional<Path> loadedLibrary(String fileName) {
        try (Stream<String> lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.map(l -> l.substring(l.lastIndexOf(' ') + 1))
                    .filter(p -> p.endsWith("/" + fileName))
                    .findFirst()
                    .map(Path::of);
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
