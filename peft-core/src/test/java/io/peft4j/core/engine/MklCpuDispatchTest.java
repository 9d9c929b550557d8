package io.peft4j.core.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.common.base.Splitter;
import com.sun.jna.NativeLibrary;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class MklCpuDispatchTest {

    static boolean linuxX86() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        return os.contains("linux") && (arch.equals("amd64") || arch.equals("x86_64"));
    }

    @Test
    void theGeneratedElfLoadsAndItsFunctionsReturnTheirValues() throws IOException {
        assumeTrue(linuxX86(), "the stub is x86-64 ELF: runs on Linux x86-64 only");
        // where install() writes its own, a folder that allows mapping code (a noexec /tmp would
        // not)
        Path tmp =
                Files.createDirectories(MklCpuDispatch.stubDir())
                        .resolve("test-" + ProcessHandle.current().pid());
        Files.createDirectories(tmp);
        Map<String, Integer> fns = new LinkedHashMap<>();
        fns.put("peft4j_test_seven", 7);
        fns.put("peft4j_test_minus_three", -3);
        fns.put("peft4j_test_zero", 0);
        Path file = tmp.resolve("libstubtest.so");
        Files.write(file, ElfStub.sharedObject("libstubtest.so", fns));
        NativeLibrary lib = NativeLibrary.getInstance(file.toString());
        assertEquals(7, lib.getFunction("peft4j_test_seven").invokeInt(new Object[0]));
        assertEquals(-3, lib.getFunction("peft4j_test_minus_three").invokeInt(new Object[0]));
        assertEquals(0, lib.getFunction("peft4j_test_zero").invokeInt(new Object[0]));
        lib.dispose();
        Files.delete(file);
        Files.delete(tmp);
    }

    @Test
    void theStubAsksForNoExecutableStackAndIsAnX86SharedObject() {
        byte[] elf = ElfStub.sharedObject("libx.so", Map.of("f", 1));
        ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0x464c457f, b.getInt(0), "ELF magic");
        assertEquals(3, b.getShort(16), "ET_DYN");
        assertEquals(62, b.getShort(18), "EM_X86_64");
        int phoff = (int) b.getLong(32);
        int phnum = b.getShort(56);
        boolean gnuStack = false;
        for (int i = 0; i < phnum; i++) {
            int type = b.getInt(phoff + i * 56);
            int flags = b.getInt(phoff + i * 56 + 4);
            if (type == 0x6474e551) {
                gnuStack = true;
                assertEquals(0, flags & 1, "PT_GNU_STACK must not be executable");
            }
            if (type == 1 && (flags & 2) != 0) {
                assertEquals(0, flags & 1, "no segment is both writable and executable");
            }
        }
        assertTrue(gnuStack, "PT_GNU_STACK present");
        assertTrue(
                new String(elf, StandardCharsets.ISO_8859_1).contains("libx.so\0"),
                "soname in dynstr");
    }

    @Test
    void anEmptyStubIsRefused() {
        IllegalArgumentException e =
                org.junit.jupiter.api.Assertions.assertThrows(
                        IllegalArgumentException.class,
                        () -> ElfStub.sharedObject("libx.so", Map.of()));
        assertTrue(e.getMessage().contains("at least one function"), e.getMessage());
    }

    @Test
    void branchNamesFollowMklCbwr() {
        assertEquals("COMPATIBLE", MklCpuDispatch.branchName(2));
        assertEquals("AVX2", MklCpuDispatch.branchName(10));
        assertEquals("AVX512_E1", MklCpuDispatch.branchName(14));
        assertEquals("99", MklCpuDispatch.branchName(99));
    }

    /**
     * The effect, in fresh JVMs (MKL fixes its path at its first call, and this JVM may have made
     * one already): on an AMD CPU, without the shim MKL takes the generic path (the premise), with
     * it a vector path; elsewhere nothing is done.
     */
    @Test
    void onAmdMklLeavesTheGenericPathOnlyWithTheShim() throws Exception {
        Map<String, String> on = probe(List.of());
        assertTrue(Double.parseDouble(on.get("MAXDIFF")) < 1e-4, "the GEMM must stay right: " + on);
        boolean amd = linuxX86() && MklCpuDispatch.cpuVendor().orElse("").equals("AuthenticAMD");
        if (!amd) {
            assertEquals("NOT_NEEDED", on.get("STATUS"), on.toString());
            return;
        }
        assertEquals("INSTALLED", on.get("STATUS"), on.toString());
        Map<String, String> off = probe(List.of("-D" + MklCpuDispatch.PROPERTY + "=false"));
        assertEquals("DISABLED", off.get("STATUS"), off.toString());
        assertTrue(Double.parseDouble(off.get("MAXDIFF")) < 1e-4, off.toString());
        assertEquals(
                "COMPATIBLE",
                off.get("BRANCH"),
                "without the shim MKL takes its generic path on AMD: " + off);
        assertNotEquals(
                "COMPATIBLE", on.get("BRANCH"), "with the shim MKL must pick a vector path: " + on);
        assertTrue(on.get("BRANCH").startsWith("AVX"), on.toString());
        // a GEMM before install(): MKL keeps its generic path, and install() says so
        Map<String, String> late = probe(List.of(), List.of("gemm-first"));
        assertEquals("TOO_LATE", late.get("STATUS"), late.toString());
        assertEquals("COMPATIBLE", late.get("BRANCH"), late.toString());
    }

    /**
     * Loading PeftModel and FineTuner (and using DJL) maps no native code of ours; on an AMD CPU
     * without the explicit install one line on stderr says what it costs and how to enable it,
     * once, whether or not an SLF4J backend is on the class path.
     */
    @Test
    void noInstallOnClassLoadingAndOneAdviceLineOnAmd() throws Exception {
        assumeTrue(linuxX86(), "reads /proc/self/maps");
        boolean amd = MklCpuDispatch.cpuVendor().orElse("").equals("AuthenticAMD");
        String withSlf4j = System.getProperty("java.class.path");
        String withoutSlf4j =
                String.join(
                        java.io.File.pathSeparator,
                        java.util.Arrays.stream(withSlf4j.split(java.io.File.pathSeparator))
                                .filter(e -> !e.contains("slf4j-simple"))
                                .toList());
        for (String classPath : List.of(withSlf4j, withoutSlf4j)) {
            String out = run(classPath, List.of(), List.of("advise"));
            assertTrue(
                    out.contains("SHIM_MAPPED false"),
                    "loading peft4j classes must not load the shim:\n" + out);
            assertTrue(out.contains("SHIM_MAPPED_AFTER false"), out);
            long lines =
                    out.lines()
                            .filter(
                                    l ->
                                            l.startsWith(
                                                    "peft4j: MklCpuDispatch.install() was not called"))
                            .count();
            assertEquals(amd ? 1 : 0, lines, out);
            if (amd) {
                assertTrue(
                        out.contains("2.2x slower")
                                && out.contains("MklCpuDispatch.install()")
                                && out.contains("-D" + MklCpuDispatch.PROPERTY + "=false"),
                        out);
            }
        }
    }

    private static Map<String, String> probe(List<String> jvmArgs)
            throws IOException, InterruptedException {
        return probe(jvmArgs, List.of());
    }

    private static Map<String, String> probe(List<String> jvmArgs, List<String> probeArgs)
            throws IOException, InterruptedException {
        String out = run(System.getProperty("java.class.path"), jvmArgs, probeArgs);
        Map<String, String> values = new LinkedHashMap<>();
        for (String line : Splitter.on('\n').split(out)) {
            String[] kv = line.trim().split(" ", 2);
            if (kv.length == 2 && List.of("STATUS", "MAXDIFF", "BRANCH").contains(kv[0])) {
                values.put(kv[0], kv[1]);
            }
        }
        return values;
    }

    private static String run(String classPath, List<String> jvmArgs, List<String> probeArgs)
            throws IOException, InterruptedException {
        List<String> cmd =
                new ArrayList<>(
                        List.of(
                                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                                "-Dai.djl.offline=true",
                                "-Dai.djl.pytorch.num_threads=1",
                                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"));
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", classPath, MklProbe.class.getName()));
        cmd.addAll(probeArgs);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "probe timed out");
        assertEquals(0, p.exitValue(), out);
        return out;
    }
}
