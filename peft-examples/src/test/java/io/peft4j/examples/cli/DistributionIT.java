package io.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.testing.TinyModels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The built distribution end to end, as a user runs it: {@code target/peft4j/bin/peft4j} through a
 * symlink, from another folder, in child processes; train -> eval -> forward -> merge -> forward on
 * a tiny decoder made here. Every stdout must parse as JSON from its first byte, and stderr must be
 * quiet (no DJL GPU-probe or libtorch deprecation lines). Runs in {@code mvn verify} (failsafe,
 * after {@code package} has assembled the distribution).
 */
class DistributionIT {

    @TempDir static Path dir;

    static Path launcher;
    static Path llama;
    static Path text;

    record Run(int code, String out, String err) {}

    @BeforeAll
    static void setUp() throws IOException {
        Path bin =
                Path.of(System.getProperty("peft4j.dist", "target/peft4j"))
                        .resolve("bin/peft4j")
                        .toAbsolutePath();
        assertTrue(
                Files.isExecutable(bin),
                bin + " is missing or not executable; run mvn package first");
        Path onPath = Files.createDirectories(dir.resolve("path"));
        launcher =
                Files.createSymbolicLink(onPath.resolve("peft4j"), bin); // as when linked onto PATH
        llama = TinyModels.llama(dir.resolve("llama"));
        StringBuilder story = new StringBuilder();
        for (int i = 0; i < 12; i++) {
            story.append("the cat sat on the mat . the dog ran\n\n");
        }
        text = Files.writeString(dir.resolve("story.txt"), story.toString());
    }

    /** Runs the launcher in a folder of its own with JAVA_HOME set to this JVM's. */
    static Run peft4j(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(launcher.toString()));
        command.addAll(List.of(args));
        Path work = Files.createDirectories(dir.resolve("cwd"));
        ProcessBuilder pb = new ProcessBuilder(command).directory(work.toFile());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().remove("JAVA_OPTS");
        Path out = Files.createTempFile(dir, "out", ".txt");
        Path err = Files.createTempFile(dir, "err", ".txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = pb.start();
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError(
                    "peft4j " + String.join(" ", args) + " did not finish in 5 min");
        }
        Run r =
                new Run(
                        p.exitValue(),
                        Files.readString(out, StandardCharsets.UTF_8),
                        Files.readString(err, StandardCharsets.UTF_8));
        assertEquals(
                0,
                r.code(),
                "peft4j "
                        + String.join(" ", args)
                        + "\nstdout: "
                        + r.out()
                        + "\nstderr: "
                        + r.err());
        assertFalse(r.err().contains("Failed to detect GPU count"), r.err());
        assertFalse(r.err().contains("deprecated"), r.err());
        return r;
    }

    /** stdout as one JSON object: its first byte is '{' and nothing follows the object. */
    static JsonObject json(Run r) {
        assertTrue(r.out().startsWith("{"), "stdout does not start with JSON: " + r.out());
        JsonElement e = JsonParser.parseString(r.out());
        return e.getAsJsonObject();
    }

    @Test
    void trainEvalForwardMergeThroughTheLauncher() throws Exception {
        // a folder name with both quotes, spaces and shell characters: arguments must arrive
        // untouched
        Path run = dir.resolve("run it's \"quoted\" $HOME `x` *");
        JsonObject train =
                json(
                        peft4j(
                                "train",
                                "--model",
                                llama.toString(),
                                "--train",
                                text.toString(),
                                "--steps",
                                "3",
                                "--lr",
                                "2e-2",
                                "--batch-size",
                                "2",
                                "--max-length",
                                "16",
                                "--out",
                                run.toString(),
                                "--json"));
        assertEquals("causal-lm", train.get("task").getAsString()); // no --task: a decoder
        assertEquals(run.toAbsolutePath().normalize().toString(), train.get("out").getAsString());
        assertTrue(Files.isRegularFile(run.resolve("adapter_model.safetensors")));
        double after = train.getAsJsonObject("after").get("nll").getAsDouble();

        JsonObject eval =
                json(
                        peft4j(
                                "eval",
                                "--model",
                                llama.toString(),
                                "--adapter",
                                run.toString(),
                                "--data",
                                text.toString(),
                                "--json"));
        assertEquals("causal-lm", eval.get("task").getAsString());
        assertTrue(eval.get("nll").getAsDouble() > 0, eval.toString());
        assertTrue(Double.isFinite(after));

        JsonObject adapted =
                json(
                        peft4j(
                                "forward",
                                "--model",
                                llama.toString(),
                                "--adapter",
                                run.toString(),
                                "--ids",
                                "2,5,6,7"));
        JsonObject base = json(peft4j("forward", "--model", llama.toString(), "--ids", "2,5,6,7"));
        assertEquals("logits", adapted.get("output").getAsString());
        assertTrue(
                maxAbsDiff(adapted.getAsJsonArray("values"), base.getAsJsonArray("values")) > 1e-4,
                "the trained adapter must change the logits");

        Path merged = dir.resolve("merged");
        JsonObject merge =
                json(
                        peft4j(
                                "merge",
                                "--model",
                                llama.toString(),
                                "--adapter",
                                run.toString(),
                                "--out",
                                merged.toString(),
                                "--json"));
        assertEquals(
                merged.toAbsolutePath().normalize().toString(), merge.get("out").getAsString());
        JsonObject fromMerged =
                json(peft4j("forward", "--model", merged.toString(), "--ids", "2,5,6,7"));
        assertTrue(
                maxAbsDiff(adapted.getAsJsonArray("values"), fromMerged.getAsJsonArray("values"))
                        < 1e-4,
                "merged checkpoint must give the adapter's logits");
    }

    private static double maxAbsDiff(JsonArray a, JsonArray b) {
        assertEquals(a.size(), b.size());
        double max = 0;
        for (int i = 0; i < a.size(); i++) {
            max =
                    Math.max(
                            max,
                            a.get(i).isJsonArray()
                                    ? maxAbsDiff(
                                            a.get(i).getAsJsonArray(), b.get(i).getAsJsonArray())
                                    : Math.abs(a.get(i).getAsDouble() - b.get(i).getAsDouble()));
        }
        return max;
    }

    /**
     * The launcher sets glibc's malloc tunables: huge pages for every command, and for train and
     * demo also the heap that keeps freed blocks (a step's activations are reused without a page
     * fault per 4 KiB); it keeps a user's GLIBC_TUNABLES and lets each key set there win;
     * PEFT4J_MALLOC chooses, PEFT4J_HUGEPAGES=0 still means no setting, and a wrong value is a
     * one-line error with exit code 2. A stand-in java prints what it was given.
     */
    @Test
    void launcherSetsGlibcMallocTunablesUnlessTold() throws Exception {
        Path fakeHome = Files.createDirectories(dir.resolve("fake-java/bin")).getParent();
        Path fakeJava = fakeHome.resolve("bin/java");
        Files.writeString(fakeJava, "#!/bin/sh\necho \"tunables=[$GLIBC_TUNABLES]\"\n");
        assertTrue(fakeJava.toFile().setExecutable(true));
        String keep =
                "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=68719476736"
                        + ":glibc.malloc.top_pad=268435456";
        assertEquals("tunables=[glibc.malloc.hugetlb=1]", launch(fakeHome, null, null, "--help"));
        assertEquals(
                "tunables=[glibc.malloc.hugetlb=1:" + keep + "]",
                launch(fakeHome, null, null, "train", "--help"));
        assertEquals(
                "tunables=[glibc.malloc.hugetlb=1:" + keep + "]",
                launch(fakeHome, null, null, "demo", "--help"));
        assertEquals(
                "tunables=[glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1]",
                launch(fakeHome, "glibc.malloc.arena_max=2", null, "eval", "--help"));
        assertEquals(
                "tunables=[glibc.malloc.hugetlb=0:glibc.malloc.trim_threshold=1:"
                        + "glibc.malloc.mmap_threshold=33554432:glibc.malloc.top_pad=268435456]",
                launch(
                        fakeHome,
                        "glibc.malloc.hugetlb=0:glibc.malloc.trim_threshold=1",
                        null,
                        "train",
                        "--help"));
        assertEquals(
                "tunables=[glibc.malloc.hugetlb=1]",
                launch(fakeHome, null, "PEFT4J_MALLOC=hugepages", "train", "--help"));
        assertEquals(
                "tunables=[glibc.malloc.hugetlb=1:" + keep + "]",
                launch(fakeHome, null, "PEFT4J_MALLOC=training", "--help"));
        assertEquals("tunables=[]", launch(fakeHome, null, "PEFT4J_MALLOC=system", "train"));
        assertEquals("tunables=[]", launch(fakeHome, null, "PEFT4J_HUGEPAGES=0", "train"));
        ProcessBuilder wrong = launcherWith(fakeHome, null, "PEFT4J_MALLOC=fast", "train");
        Process p = wrong.redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the launcher did not finish");
        assertEquals(2, p.exitValue(), out);
        assertEquals(
                "peft4j: PEFT4J_MALLOC must be training, hugepages or system, got 'fast'",
                out.strip());
    }

    /** The launcher's stdout when java is {@code javaHome}'s (a stand-in). */
    private static String launch(Path javaHome, String tunables, String setting, String... args)
            throws IOException, InterruptedException {
        Process p =
                launcherWith(javaHome, tunables, setting, args).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the launcher did not finish");
        assertEquals(0, p.exitValue(), out);
        return out.strip();
    }

    /**
     * The launcher run with {@code args}, java from {@code javaHome}, {@code GLIBC_TUNABLES} =
     * {@code tunables} (none when null) and one {@code NAME=value} {@code setting} (none when
     * null).
     */
    private static ProcessBuilder launcherWith(
            Path javaHome, String tunables, String setting, String... args) {
        List<String> command = new ArrayList<>();
        command.add(launcher.toString());
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put("JAVA_HOME", javaHome.toString());
        pb.environment().remove("GLIBC_TUNABLES");
        pb.environment().remove("PEFT4J_HUGEPAGES");
        pb.environment().remove("PEFT4J_MALLOC");
        if (tunables != null) {
            pb.environment().put("GLIBC_TUNABLES", tunables);
        }
        if (setting != null) {
            int eq = setting.indexOf('=');
            pb.environment().put(setting.substring(0, eq), setting.substring(eq + 1));
        }
        return pb;
    }
}
