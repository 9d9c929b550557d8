package io.peft4j.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import io.peft4j.models.BertConfig;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The PyTorch-Python reference: the same LoRA train step (r=8, alpha 16, query/value, AdamW lr
 * 1e-5, loss = mean square of the last hidden state, dropout on) run by a small pure-torch script
 * ({@code lora_step.py}, a resource next to this class) and by peft4j, side by side in one run.
 * Each round runs one step of each (Python first in even rounds, peft4j first in odd ones); the
 * figure is the median of per-round ratios peft4j / Python. Python's step time is the one the
 * script measures with {@code time.perf_counter} around the step, so its interpreter start-up and
 * the pipe are not counted; ours is {@link MiniLmLoraFigures#trainStep}'s.
 *
 * <p>The script builds a random MiniLM-shaped encoder (weights do not change the speed) with as
 * many intra-op threads as libtorch has here. The interpreter is {@code -Dbench.python=<path>} when
 * given, else {@code /usr/bin/python3} (Debian's python3-torch installs for that one), else {@code
 * python3} on the PATH; the first that can {@code import torch} is used. Without one the report
 * says it skipped and why. Usage: {@code PythonReference [rounds=5] [--tiny]}, or {@code
 * MiniLmLoraFigures python [rounds]}.
 */
public final class PythonReference {

    static final String SCRIPT = "lora_step.py";
    static final String RATIO_LABEL = "peft4j / PyTorch-Python: ";

    /**
     * Environment variables removed from the Python child's environment (they pin OpenBLAS's
     * kernel).
     */
    static final List<String> UNPINNED_BLAS_VARIABLES =
            List.of("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE");

    /** Importing torch takes seconds on a loaded box; a hung interpreter must not hang the run. */
    private static final long PROBE_TIMEOUT_S = 120;

    /** One MiniLM step took 2-20 s here depending on load; ten minutes means something is wrong. */
    private static final long STEP_TIMEOUT_S = 600;

    private static final int WARMUP_STEPS = 2;

    private PythonReference() {}

    public static void main(String[] args) throws Exception {
        // first thing: MKL's fast path on AMD CPUs (the library never installs it)
        io.peft4j.core.engine.MklCpuDispatch.install();
        List<String> rest = new ArrayList<>(List.of(args));
        boolean tiny = rest.remove("--tiny");
        int rounds = rest.isEmpty() ? 5 : Integer.parseInt(rest.get(0));
        for (String line : run(rounds, tiny, defaultCandidates())) {
            System.out.println(line);
        }
    }

    /** Header line plus {@link #compare}'s lines. */
    static List<String> run(int rounds, boolean tiny, List<String> candidates) throws Exception {
        Bench.gradOff();
        List<String> out = new ArrayList<>();
        out.add(
                "PyTorch-Python reference, "
                        + (tiny ? "TINY random BERT (smoke run)" : "all-MiniLM-L6-v2 shapes")
                        + "; "
                        + Bench.machine());
        out.addAll(compare(new MiniLmLoraFigures(tiny, rounds), rounds, candidates));
        return out;
    }

    /**
     * {@code -Dbench.python} alone when set (a typo must not silently measure another interpreter),
     * else the defaults.
     */
    static List<String> defaultCandidates() {
        String explicit = System.getProperty("bench.python");
        if (explicit != null && !explicit.isBlank()) {
            return List.of(explicit);
        }
        return List.of("/usr/bin/python3", "python3");
    }

    /** The interpreter found, or null with why each candidate failed. */
    record Lookup(String python, String torchVersion, List<String> tried) {
        String skippedLine() {
            return "PyTorch-Python reference: skipped, no python3 with torch found (tried "
                    + String.join("; ", tried)
                    + "; apt-get install python3-torch, or -Dbench.python=<interpreter>)";
        }
    }

    /** The first candidate that can {@code import torch}. */
    static Lookup find(List<String> candidates) {
        List<String> tried = new ArrayList<>();
        for (String candidate : candidates) {
            Process p;
            try {
                p =
                        new ProcessBuilder(
                                        candidate,
                                        "-c",
                                        "import torch; print('torch=' + torch.__version__)")
                                .redirectErrorStream(true)
                                .start();
            } catch (IOException e) {
                tried.add(candidate + ": cannot run it (" + e.getMessage() + ")");
                continue;
            }
            try {
                p.getOutputStream().close();
                // read on another thread: waitFor with a timeout must not block on a full pipe
                BlockingQueue<String> lines = pump(p.getInputStream());
                if (!p.waitFor(PROBE_TIMEOUT_S, TimeUnit.SECONDS)) {
                    tried.add(
                            candidate
                                    + ": 'import torch' did not finish in "
                                    + PROBE_TIMEOUT_S
                                    + " s");
                    continue;
                }
                String version = null;
                String last = "";
                for (String line;
                        (line = lines.poll(5, TimeUnit.SECONDS)) != null && !line.equals(EOF); ) {
                    if (line.startsWith("torch=")) {
                        version = line.substring("torch=".length()).trim();
                    } else if (!line.isBlank()) {
                        last = line.trim();
                    }
                }
                if (p.exitValue() == 0 && version != null) {
                    return new Lookup(candidate, version, tried);
                }
                tried.add(
                        candidate
                                + ": no torch (exit "
                                + p.exitValue()
                                + (last.isEmpty() ? "" : ", " + last)
                                + ")");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while probing " + candidate, e);
            } catch (IOException e) {
                tried.add(candidate + ": " + e.getMessage());
            } finally {
                p.destroyForcibly();
            }
        }
        return new Lookup(null, null, tried);
    }

    /**
     * The comparison on {@code bench}'s model and shapes (MiniLM, or the tiny BERT), or one line
     * saying it was skipped and why.
     */
    static List<String> compare(MiniLmLoraFigures bench, int rounds, List<String> candidates)
            throws IOException, InterruptedException {
        if (rounds < 1) {
            throw new IllegalArgumentException("rounds must be >= 1, got " + rounds);
        }
        Lookup lookup = find(candidates);
        if (lookup.python() == null) {
            return List.of(lookup.skippedLine());
        }
        BertConfig c = bench.config();
        int batch = bench.trainBatch();
        int seq = bench.seq();
        int threads = Bench.torchThreads();
        Path script = extractScript();
        List<String> cmd =
                new ArrayList<>(
                        List.of(
                                lookup.python(),
                                script.toString(),
                                "--vocab",
                                str(c.vocabSize()),
                                "--hidden",
                                str(c.hiddenSize()),
                                "--layers",
                                str(c.numHiddenLayers()),
                                "--heads",
                                str(c.numAttentionHeads()),
                                "--intermediate",
                                str(c.intermediateSize()),
                                "--max-positions",
                                str(c.maxPositionEmbeddings()),
                                "--hidden-dropout",
                                str(c.hiddenDropoutProb()),
                                "--attn-dropout",
                                str(c.attentionProbsDropoutProb()),
                                "--eps",
                                str(c.layerNormEps()),
                                "--batch",
                                str(batch),
                                "--seq",
                                str(seq),
                                "--threads",
                                str(threads),
                                "--seed",
                                "7"));
        ProcessBuilder builder = new ProcessBuilder(cmd).redirectErrorStream(true);
        // Debian's torch calls BLAS through libblas.so.3 (OpenBLAS when installed), whose own
        // thread pool does not follow torch.set_num_threads: pin it too, or it takes both cores.
        Map<String, String> env = builder.environment();
        for (String key : List.of("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")) {
            env.put(key, str(threads));
        }
        // This machine's environment pins OpenBLAS to its Haswell (AVX2) kernel and a small L2
        // size;
        // the peer must run on the best kernel OpenBLAS picks for the CPU (AVX-512 here: LoRA step
        // 927 vs 1177 ms), or the ratio flatters peft4j. Only this child's environment changes.
        for (String key : UNPINNED_BLAS_VARIABLES) {
            env.remove(key);
        }
        Process python = builder.start();
        try (Writer stdin =
                        new OutputStreamWriter(python.getOutputStream(), StandardCharsets.UTF_8);
                Trainee ours = newLoraTrainee(bench);
                NDManager manager = NDManager.newBaseManager()) {
            Script py = new Script(python, stdin, pump(python.getInputStream()), lookup.python());
            String ready = py.await("ready ", PROBE_TIMEOUT_S);
            long pyTrainable = Long.parseLong(field(ready, "trainable"));
            long ourTrainable = ours.trainableCount();
            if (pyTrainable != ourTrainable) {
                throw new IllegalStateException(
                        String.format(
                                Locale.ROOT,
                                "the two sides train different parameter"
                                        + " counts: peft4j %,d, %s %,d (expected equal: LoRA r=8 on query and value of every layer);"
                                        + " the script's model does not match %s",
                                ourTrainable,
                                SCRIPT,
                                pyTrainable,
                                c));
            }
            long[] ids = Bench.randomIds(batch, seq, c.vocabSize(), 7);
            for (int i = 0; i < WARMUP_STEPS; i++) {
                py.step();
                oursStep(ours, manager, ids, batch, seq);
            }
            double[] pyS = new double[rounds];
            double[] ourS = new double[rounds];
            double[] ratio = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                if (r % 2 == 0) {
                    pyS[r] = py.step();
                    ourS[r] = oursStep(ours, manager, ids, batch, seq);
                } else {
                    ourS[r] = oursStep(ours, manager, ids, batch, seq);
                    pyS[r] = py.step();
                }
                ratio[r] = ourS[r] / pyS[r];
            }
            Engine torch = Engine.getEngine("PyTorch");
            List<String> out = new ArrayList<>();
            out.add(
                    String.format(
                            Locale.ROOT,
                            "LoRA r=8 q/v train step, batch %d x %d, %,d trainable on both sides,"
                                    + " %d thread(s): peft4j %.0f ms, PyTorch-Python %.0f ms (medians)",
                            batch,
                            seq,
                            ourTrainable,
                            threads,
                            Bench.median(ourS) * 1e3,
                            Bench.median(pyS) * 1e3));
            out.add(
                    String.format(
                            Locale.ROOT,
                            "  peft4j: libtorch %s via DJL %s; Python: torch %s (%s, threads=%s, BLAS %s,"
                                    + " OpenBLAS kernel %s, config %s; %s unset for it)",
                            torch.getVersion(),
                            Engine.getDjlVersion(),
                            field(ready, "torch"),
                            lookup.python(),
                            field(ready, "threads"),
                            field(ready, "blas"),
                            field(ready, "blas_core"),
                            field(ready, "blas_config"),
                            String.join("/", UNPINNED_BLAS_VARIABLES)));
            if (field(ready, "blas").contains("/blas/libblas")) {
                // Debian's default libblas.so.3 is the netlib reference BLAS: GEMMs ~10x slower,
                // which would make the figure say nothing about peft4j
                out.add(
                        "  WARNING: Python's torch runs on the reference BLAS; apt-get install libopenblas0 (python3-torch"
                                + " recommends it) for a meaningful figure");
            }
            out.add("  " + RATIO_LABEL + Bench.summary(ratio) + "   (goal <= 0.8)");
            return out;
        } finally {
            python.destroyForcibly(); // stdin is closed by now, so a well-behaved script has
            // already exited
            python.waitFor(10, TimeUnit.SECONDS);
            Files.deleteIfExists(script);
        }
    }

    // The two calls into the peft4j train step, kept here so a refactoring of MiniLmLoraFigures
    // touches only them.

    private static Trainee newLoraTrainee(MiniLmLoraFigures bench) {
        return bench.trainee(true);
    }

    private static double oursStep(Trainee t, NDManager manager, long[] ids, int batch, int seq) {
        return MiniLmLoraFigures.trainStep(t, manager, ids, batch, seq);
    }

    /** The script talked to over its pipes. */
    private static final class Script {
        private final Process process;
        private final Writer stdin;
        private final BlockingQueue<String> stdout;
        private final String python;

        /** Lines that were not protocol (warnings, a traceback), for the error message. */
        private final List<String> log = new ArrayList<>();

        Script(Process process, Writer stdin, BlockingQueue<String> stdout, String python) {
            this.process = process;
            this.stdin = stdin;
            this.stdout = stdout;
            this.python = python;
        }

        double step() throws IOException, InterruptedException {
            stdin.write("step\n");
            stdin.flush();
            return Double.parseDouble(
                    await("seconds ", STEP_TIMEOUT_S).substring("seconds ".length()).trim());
        }

        /**
         * The next line starting with {@code prefix}; fails on EOF, an error line or the timeout.
         */
        String await(String prefix, long timeoutS) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutS);
            while (true) {
                String line =
                        stdout.poll(
                                Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (line == null) {
                    process.destroyForcibly();
                    throw failure("no '" + prefix.trim() + "' line within " + timeoutS + " s");
                }
                if (line.startsWith(prefix)) {
                    return line;
                }
                if (line.equals(EOF) || line.startsWith("error ")) {
                    throw failure(
                            line.equals(EOF)
                                    ? "it exited before its '" + prefix.trim() + "' line"
                                    : line);
                }
                log.add(line);
            }
        }

        private IllegalStateException failure(String what) {
            int from = Math.max(0, log.size() - 30);
            return new IllegalStateException(
                    SCRIPT
                            + " under "
                            + python
                            + ": "
                            + what
                            + "; its other output:\n"
                            + String.join("\n", log.subList(from, log.size())));
        }
    }

    /** Marks the end of a pumped stream (a NUL-prefixed line the script never prints). */
    private static final String EOF = "\u0000EOF";

    /** Reads {@code in} line by line on a daemon thread; {@link #EOF} after the last line. */
    private static BlockingQueue<String> pump(InputStream in) {
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread t =
                new Thread(
                        () -> {
                            try (BufferedReader r =
                                    new BufferedReader(
                                            new InputStreamReader(in, StandardCharsets.UTF_8))) {
                                for (String line; (line = r.readLine()) != null; ) {
                                    lines.add(line);
                                }
                            } catch (IOException e) {
                                lines.add("pipe error: " + e.getMessage());
                            } finally {
                                lines.add(EOF);
                            }
                        },
                        "python-reference-pump");
        t.setDaemon(true);
        t.start();
        return lines;
    }

    /** {@code key=value} from the script's ready line (values have no spaces). */
    static String field(String ready, String key) {
        for (String part : ready.split(" ")) {
            if (part.startsWith(key + "=")) {
                return part.substring(key.length() + 1);
            }
        }
        throw new IllegalStateException("the script's ready line has no " + key + "=: " + ready);
    }

    private static Path extractScript() throws IOException {
        Path file = Files.createTempFile("peft4j-lora_step", ".py");
        try (InputStream in = PythonReference.class.getResourceAsStream(SCRIPT)) {
            if (in == null) {
                throw new IllegalStateException(
                        SCRIPT
                                + " is not on the classpath next to "
                                + PythonReference.class.getName()
                                + " (peft-bench/src/main/resources/io/peft4j/bench)");
            }
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            return file;
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(file);
            throw e;
        }
    }

    private static String str(Object o) {
        return String.valueOf(o);
    }
}
