package io.peft4j.bench;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import io.peft4j.core.PeftModel;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.train.FineTuner;
import io.peft4j.models.GenerationConfig;
import io.peft4j.models.Generator;
import io.peft4j.models.LlamaConfig;
import io.peft4j.models.LlamaForCausalLM;
import io.peft4j.models.RandomCheckpoint.Architecture;
import io.peft4j.tasks.CausalLmTask;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Memory and speed at real sizes: LoRA r=8 all-linear training on random models with the shapes of
 * Qwen2.5-0.5B and Llama-3.2-1B (peak RSS, step time, the step's GEMM throughput over raw GEMM
 * throughput at the same size), evaluation of 15 vs 400 held-out sequences (peak RSS), and
 * generation with the KV cache (tokens/s, memory over generated tokens). Every memory figure comes
 * from a child JVM of its own (peak RSS is per process), reset after the model is built, so it is
 * the memory of the work on top of the resident model, plus that model.
 *
 * <p>Usage: {@code RealSizeTraining [cases=train05,train1b,eval,checkpoint,generate] [steps=2]
 * [--tiny]}; {@code --tiny} runs a toy shape (the CI smoke run). See {@link #report} for the cases.
 */
public final class RealSizeTraining {

    private static final long SEED = 14;
    private static final int BATCH = 4;
    private static final int SEQ = 128;
    private static final int EVAL_BATCH = 64; // the CLI's default --eval-batch-size

    private RealSizeTraining() {}

    /** A toy of the same family for the smoke run. */
    static LlamaConfig tiny() {
        return LlamaConfig.builder()
                .modelType("qwen2")
                .vocabSize(8_000)
                .hiddenSize(64)
                .intermediateSize(128)
                .numHiddenLayers(2)
                .numAttentionHeads(4)
                .numKeyValueHeads(2)
                .qkvBias(true)
                .tieWordEmbeddings(true)
                .maxPositionEmbeddings(1024)
                .build();
    }

    static LlamaConfig shape(String name) {
        switch (name) {
            // the published models' config.json shapes, as the checkpoint generator writes them
            case "qwen0.5b":
                return Architecture.QWEN2_5_0_5B.config();
            case "llama1b":
                return Architecture.LLAMA_3_2_1B.config();
            case "smollm135m":
                return Architecture.SMOLLM2_135M.config();
            case "tiny":
                return tiny();
            default:
                throw new IllegalArgumentException(
                        "unknown shape '"
                                + name
                                + "', expected qwen0.5b, llama1b, smollm135m or tiny");
        }
    }

    static AdapterConfig lora() {
        return BenchMethods.lora("all-linear");
    }

    /** A random model of the shape, built in memory (F32), with the given seed. */
    static Model build(LlamaConfig config) {
        Engine.getEngine("PyTorch").setRandomSeed((int) SEED);
        Model model = Model.newInstance("random-" + config.modelType());
        LlamaForCausalLM block = new LlamaForCausalLM(config);
        block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 8));
        model.setBlock(block);
        return model;
    }

    static List<long[]> randomSequences(int count, int len, int vocab, long seed) {
        Random random = new Random(seed);
        List<long[]> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            long[] ids = new long[len];
            for (int t = 0; t < len; t++) {
                ids[t] = random.nextInt(vocab);
            }
            out.add(ids);
        }
        return out;
    }

    /**
     * LoRA B matrices set to small random values, so the adapter changes the model (and eval folds
     * it).
     */
    static void nonZeroAdapter(PeftModel peft) {
        Random random = new Random(SEED);
        for (Parameter p : peft.trainableParameters().values()) {
            NDArray a = p.getArray();
            float[] v = new float[(int) a.size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (random.nextGaussian() * 0.01);
            }
            a.set(v);
        }
    }

    /**
     * Matmul FLOPs of one LoRA train step (forward, and backward to the inputs and adapters; no
     * gradient for frozen weights): every projection twice (forward, input gradient), attention
     * scores and mix three times each way, the head over the scored positions twice, adapters as 3
     * low-rank GEMM pairs.
     */
    static double stepGemmFlops(LlamaConfig c, int batch, int seq, int rank) {
        double tokens = (double) batch * seq;
        double h = c.hiddenSize();
        double q = (double) c.numAttentionHeads() * c.headDim();
        double kv = (double) c.numKeyValueHeads() * c.headDim();
        double inter = c.intermediateSize();
        double projections = h * q + 2 * h * kv + q * h + 3 * h * inter; // weights per layer
        double adapters = rank * ((h + q) + 2 * (h + kv) + (q + h) + 2 * (h + inter) + (inter + h));
        double attention =
                2.0 * batch * c.numAttentionHeads() * (double) seq * seq * c.headDim(); // QK^T + PV
        double perLayer =
                2 * tokens * projections * 2 // forward + input gradient
                        + 2 * tokens * adapters * 3 // forward + input gradient + adapter gradient
                        + 2 * attention * 3; // forward + two gradients each
        double head =
                2 * (double) batch * (seq - 1) * h * c.vocabSize() * 2; // logits + hidden gradient
        return perLayer * c.numHiddenLayers() + head;
    }

    // ---------------------------------------------------------------- child processes

    /**
     * {@code child pair <shape> <batch> <seq> <rounds> <modes>}: train steps measured side by side
     * in one process, so a changing machine load hits both sides of every ratio alike. {@code
     * modes} is {@code plain} or {@code checkpoint,plain} (activation checkpointing off / on,
     * toggled between steps). After a warm-up step of each mode at a short length (code paths,
     * allocator), each round runs one full step per mode (order alternating round by round), each
     * step between two timings of the raw GEMM of the step's largest shape. Memory: the first
     * round's steps run checkpointed first, each after a peak-RSS reset, so each mode's peak is its
     * own (the checkpointed step's smaller peak cannot hide under the plain one's).
     *
     * <p>Prints RESULT builtKb reset, then per mode its peakKb, then per round and mode stepMicros
     * rawGemmMflops (the mean of the timing before and after the step), then stepGemmMflop.
     */
    static void childPair(String shape, int batch, int seq, int rounds, List<String> modes) {
        LlamaConfig config = shape(shape);
        try (Model model = build(config);
                PeftModel peft = PeftModel.wrap(model.getBlock(), lora());
                NDManager gemm = NDManager.newBaseManager()) {
            LlamaForCausalLM llama = (LlamaForCausalLM) model.getBlock();
            int steps = rounds * modes.size();
            CausalLmTask task =
                    CausalLmTask.ofTokenIds(
                            llama,
                            randomSequences(batch * steps, seq, config.vocabSize(), SEED),
                            seq,
                            0);
            int warmLen = Math.min(seq, 32);
            CausalLmTask warmTask =
                    CausalLmTask.ofTokenIds(
                            llama,
                            randomSequences(batch, warmLen, config.vocabSize(), SEED + 3),
                            warmLen,
                            0);
            NDArray a = gemm.randomNormal(new Shape((long) batch * seq, config.hiddenSize()));
            NDArray b =
                    gemm.randomNormal(new Shape(config.hiddenSize(), config.intermediateSize()));
            long built = Bench.rssKb();
            for (String mode : modes) {
                llama.setGradientCheckpointing(mode.equals("checkpoint"));
                FineTuner.builder()
                        .maxSteps(1)
                        .batchSize(batch)
                        .progress(false)
                        .build()
                        .fit(peft, warmTask, warmTask);
            }
            a.matMul(b).close();
            long[] peaks = new long[modes.size()];
            long[][] stepMicros = new long[rounds][modes.size()];
            long[][] rawMflops = new long[rounds][modes.size()];
            boolean reset = true;
            for (int r = 0; r < rounds; r++) {
                for (int k = 0; k < modes.size(); k++) {
                    // round 0 runs the modes in the given order (memory); then alternating
                    int m = r % 2 == 0 ? k : modes.size() - 1 - k;
                    llama.setGradientCheckpointing(modes.get(m).equals("checkpoint"));
                    if (r == 0) {
                        reset &= Bench.resetPeakRss();
                    }
                    double before = gemmGflops(a, b, 3);
                    FineTuner tuner =
                            FineTuner.builder()
                                    .maxSteps(1)
                                    .batchSize(batch)
                                    .seed(SEED + r * ((long) modes.size()) + k)
                                    .progress(false)
                                    .build();
                    double seconds = tuner.fit(peft, task, task).seconds();
                    double after = gemmGflops(a, b, 3);
                    if (r == 0) {
                        peaks[m] = Math.max(Bench.peakRssKb(), built);
                    }
                    stepMicros[r][m] = Math.round(seconds * 1e6);
                    rawMflops[r][m] = Math.round((before + after) / 2 * 1e3);
                }
            }
            StringBuilder out = new StringBuilder("RESULT " + built + " " + (reset ? 1 : 0));
            for (long p : peaks) {
                out.append(' ').append(p);
            }
            for (int r = 0; r < rounds; r++) {
                for (int m = 0; m < modes.size(); m++) {
                    out.append(' ').append(stepMicros[r][m]).append(' ').append(rawMflops[r][m]);
                }
            }
            out.append(' ').append(Math.round(stepGemmFlops(config, batch, seq, 8) / 1e6));
            System.out.println(out);
        }
    }

    /** GFLOP/s of {@code calls} products {@code a b}, timed together. */
    static double gemmGflops(NDArray a, NDArray b, int calls) {
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            a.matMul(b).close();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        Shape sa = a.getShape();
        return 2.0 * sa.get(0) * sa.get(1) * b.getShape().get(1) * calls / seconds / 1e9;
    }

    /** {@code child eval <shape> <sequences> <seq>}: RESULT rssBuiltKb peakKb reset. */
    static void childEval(String shape, int sequences, int seq) {
        LlamaConfig config = shape(shape);
        try (Model model = build(config);
                PeftModel peft = PeftModel.wrap(model.getBlock(), lora())) {
            nonZeroAdapter(peft);
            CausalLmTask task =
                    CausalLmTask.ofTokenIds(
                            model.getBlock(),
                            randomSequences(sequences, seq, config.vocabSize(), SEED + 1),
                            seq,
                            0);
            boolean reset = Bench.resetPeakRss();
            long built = Bench.rssKb();
            task.evaluate(EVAL_BATCH);
            System.out.printf(
                    Locale.ROOT, "RESULT %d %d %d%n", built, Bench.peakRssKb(), reset ? 1 : 0);
        }
    }

    /**
     * {@code child generate <shape> <prompt> <short> <long>}: greedy generation of {@code short}
     * then {@code long} new tokens from one prompt; RESULT rssBuiltKb peakAfterShortKb
     * peakAfterLongKb longMicros reset (tokens/s = long / longMicros).
     */
    static void childGenerate(String shape, int prompt, int shortRun, int longRun) {
        LlamaConfig config = shape(shape);
        try (Model model = build(config);
                PeftModel peft = PeftModel.wrap(model.getBlock(), lora());
                NDManager manager = NDManager.newBaseManager()) {
            nonZeroAdapter(peft);
            LlamaForCausalLM llama = (LlamaForCausalLM) model.getBlock();
            List<long[]> prompts = randomSequences(1, prompt, config.vocabSize(), SEED + 2);
            // no EOS: every run makes exactly maxNewTokens tokens
            GenerationConfig warm =
                    GenerationConfig.builder()
                            .maxNewTokens(2)
                            .eosTokenIds(java.util.Set.of())
                            .build();
            Generator.generate(llama, prompts, warm, manager);
            boolean reset = Bench.resetPeakRss();
            long built = Bench.rssKb();
            Generator.generate(
                    llama,
                    prompts,
                    GenerationConfig.builder()
                            .maxNewTokens(shortRun)
                            .eosTokenIds(java.util.Set.of())
                            .build(),
                    manager);
            long afterShort = Bench.peakRssKb();
            long start = System.nanoTime();
            List<long[]> out =
                    Generator.generate(
                            llama,
                            prompts,
                            GenerationConfig.builder()
                                    .maxNewTokens(longRun)
                                    .eosTokenIds(java.util.Set.of())
                                    .build(),
                            manager);
            long micros = (System.nanoTime() - start) / 1000;
            if (out.get(0).length != longRun) {
                throw new IllegalStateException(
                        "generated " + out.get(0).length + " tokens, expected " + longRun);
            }
            System.out.printf(
                    Locale.ROOT,
                    "RESULT %d %d %d %d %d%n",
                    built,
                    afterShort,
                    Bench.peakRssKb(),
                    micros,
                    reset ? 1 : 0);
        }
    }

    // ---------------------------------------------------------------- report

    static String gb(long kb) {
        return String.format(Locale.ROOT, "%.2f GB", kb / 1e6 * 1.024);
    }

    /**
     * The two JVM settings the evaluation and generation memory figures are taken under: the
     * default, and the Java heap's initial size touched at start ({@code -XX:+AlwaysPreTouch}). A
     * default JVM touches its heap's pages only as garbage first reaches them, so the per-op Java
     * objects of many batches or tokens (DJL's array handles, sub-manager maps, index strings) show
     * up as RSS growth until the young generation is full; with the heap pre-touched, what still
     * grows is native (engine) memory.
     */
    static final List<List<String>> HEAPS = heaps(System.getProperty("bench.heaps", "both"));

    /**
     * {@code -Dbench.heaps=default|pretouch|both} picks the settings (one each is half the time).
     */
    static List<List<String>> heaps(String which) {
        List<String> pretouch = List.of("-XX:+AlwaysPreTouch");
        switch (which) {
            case "default":
                return List.of(List.of());
            case "pretouch":
                return List.of(pretouch);
            case "both":
                return List.of(List.of(), pretouch);
            default:
                throw new IllegalArgumentException(
                        "bench.heaps is '" + which + "', expected default, pretouch or both");
        }
    }

    static String heapLabel(List<String> jvm) {
        return jvm.isEmpty() ? "" : " [JVM heap pre-touched: " + String.join(" ", jvm) + "]";
    }

    /**
     * Runs {@link #childPair} in a child JVM and reports, per mode, the peak RSS and the step GEMM
     * throughput over the raw GEMM's timed around the same step (median of per-step ratios); with
     * two modes also the activation memory cut and the checkpointed / plain step time ratio (median
     * of per-round ratios).
     */
    static List<String> pairLines(String shape, int seq, int rounds, List<String> modes)
            throws Exception {
        long[] r =
                Bench.runChild(
                        RealSizeTraining.class,
                        List.of(
                                "child",
                                "pair",
                                shape,
                                "" + BATCH,
                                "" + seq,
                                "" + rounds,
                                String.join(",", modes)));
        int n = modes.size();
        long built = r[0];
        boolean reset = r[1] == 1;
        double stepMflop = r[r.length - 1];
        List<String> lines = new ArrayList<>();
        double[][] seconds = new double[n][rounds];
        for (int m = 0; m < n; m++) {
            double[] efficiency = new double[rounds];
            for (int k = 0; k < rounds; k++) {
                int at = 2 + n + 2 * (k * n + m);
                seconds[m][k] = r[at] / 1e6;
                double stepGflops = stepMflop / 1e3 / seconds[m][k];
                efficiency[k] = stepGflops / (r[at + 1] / 1e3);
            }
            double median = Bench.median(seconds[m].clone());
            lines.add(
                    String.format(
                            Locale.ROOT,
                            "train %s LoRA r=8 all-linear %dx%d%s: peak RSS %s (model built %s;"
                                    + " peak reset: %s); step %.2f s (median of %d),"
                                    + " step GEMM %.1f GFLOP/s; step GEMM / raw GEMM around the same"
                                    + " step: %s; each step (round order) %s s",
                            shape,
                            BATCH,
                            seq,
                            modes.get(m).equals("checkpoint") ? " [activation checkpointing]" : "",
                            gb(r[2 + m]),
                            gb(built),
                            reset,
                            median,
                            rounds,
                            stepMflop / 1e3 / median,
                            Bench.summary(efficiency),
                            java.util.Arrays.toString(seconds[m])));
        }
        if (n == 2) {
            double[] ratio = new double[rounds];
            for (int k = 0; k < rounds; k++) {
                ratio[k] = seconds[0][k] / seconds[1][k];
            }
            double ckptAct = r[2] - built;
            double plainAct = r[3] - built;
            lines.add(
                    String.format(
                            Locale.ROOT,
                            "activation checkpointing %s %dx%d: activation memory (peak - model"
                                    + " built) %s -> %s, cut %.2fx; step time checkpointed / plain"
                                    + " (same process, per round): %s",
                            shape,
                            BATCH,
                            seq,
                            gb((long) plainAct),
                            gb((long) ckptAct),
                            plainAct / ckptAct,
                            Bench.summary(ratio)));
        }
        return lines;
    }

    /**
     * Cases: {@code train05} (0.5B shape), {@code train1b} (1B shape), {@code eval} (15 vs 400
     * sequences; {@code eval=64} sets the sequence length, default 128), {@code checkpoint} (0.5B,
     * 4 x 512, with and without activation checkpointing; {@code checkpoint=smollm135m/256} picks
     * the shape and length), {@code generate}.
     */
    static List<String> report(String cases, int steps, boolean tiny) throws Exception {
        List<String> lines = new ArrayList<>();
        lines.add("RealSizeTraining: " + Bench.machine());
        String small = tiny ? "tiny" : "qwen0.5b";
        int seq = tiny ? 16 : SEQ;
        for (String c : cases.split(",")) {
            String name = c.contains("=") ? c.substring(0, c.indexOf('=')) : c;
            String value = c.contains("=") ? c.substring(c.indexOf('=') + 1) : null;
            switch (name) {
                case "train05":
                case "train1b":
                    {
                        String shape =
                                tiny ? "tiny" : name.equals("train05") ? "qwen0.5b" : "llama1b";
                        lines.addAll(pairLines(shape, seq, steps, List.of("plain")));
                        break;
                    }
                case "eval":
                    {
                        int len = value != null ? Integer.parseInt(value) : seq;
                        int few = tiny ? 3 : 15;
                        int many = tiny ? 40 : 400;
                        for (List<String> jvm : HEAPS) {
                            long[] a =
                                    Bench.runChild(
                                            RealSizeTraining.class,
                                            jvm,
                                            List.of("child", "eval", small, "" + few, "" + len));
                            long[] b =
                                    Bench.runChild(
                                            RealSizeTraining.class,
                                            jvm,
                                            List.of("child", "eval", small, "" + many, "" + len));
                            lines.add(
                                    String.format(
                                            Locale.ROOT,
                                            "eval %s, %d-token sequences, batch %d%s: peak RSS %d"
                                                    + " sequences %s, %d sequences %s, ratio %.3f"
                                                    + " (model built %s / %s)",
                                            small,
                                            len,
                                            EVAL_BATCH,
                                            heapLabel(jvm),
                                            few,
                                            gb(a[1]),
                                            many,
                                            gb(b[1]),
                                            (double) b[1] / a[1],
                                            gb(a[0]),
                                            gb(b[0])));
                        }
                        break;
                    }
                case "checkpoint":
                    {
                        // checkpoint=<shape>/<seq> picks another shape and length (default: 0.5B,
                        // 512)
                        String shape = value != null && !tiny ? value.split("/")[0] : small;
                        int len =
                                tiny
                                        ? 64
                                        : value != null
                                                ? Integer.parseInt(value.split("/")[1])
                                                : 512;
                        lines.addAll(pairLines(shape, len, steps, List.of("checkpoint", "plain")));
                        break;
                    }
                case "generate":
                    {
                        int prompt = tiny ? 8 : 32;
                        int shortRun = tiny ? 8 : 16;
                        int longRun = tiny ? 32 : 128;
                        for (List<String> jvm : HEAPS) {
                            long[] r =
                                    Bench.runChild(
                                            RealSizeTraining.class,
                                            jvm,
                                            List.of(
                                                    "child",
                                                    "generate",
                                                    small,
                                                    "" + prompt,
                                                    "" + shortRun,
                                                    "" + longRun));
                            lines.add(
                                    String.format(
                                            Locale.ROOT,
                                            "generate %s greedy, KV cache, LoRA unmerged, prompt %d%s:"
                                                    + " %.2f tokens/s over %d new tokens; peak RSS after"
                                                    + " %d tokens %s, after %d tokens %s, growth %.0f MB"
                                                    + " (model built %s)",
                                            small,
                                            prompt,
                                            heapLabel(jvm),
                                            longRun / (r[3] / 1e6),
                                            longRun,
                                            shortRun,
                                            gb(r[1]),
                                            longRun,
                                            gb(r[2]),
                                            (r[2] - r[1]) * 1.024 / 1e3,
                                            gb(r[0])));
                        }
                        break;
                    }
                default:
                    throw new IllegalArgumentException(
                            "unknown case '"
                                    + c
                                    + "', expected train05, train1b, eval[=seq], checkpoint, generate");
            }
        }
        lines.add("loadavg at the end: " + Bench.loadavg());
        return lines;
    }

    public static void main(String[] args) throws Exception {
        // first thing: MKL's fast path on AMD CPUs (the library never installs it)
        io.peft4j.core.engine.MklCpuDispatch.install();
        if (args.length > 0 && args[0].equals("child")) {
            Bench.gradOff();
            switch (args[1]) {
                case "pair":
                    childPair(
                            args[2],
                            Integer.parseInt(args[3]),
                            Integer.parseInt(args[4]),
                            Integer.parseInt(args[5]),
                            List.of(args[6].split(",")));
                    return;
                case "eval":
                    childEval(args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]));
                    return;
                case "generate":
                    childGenerate(
                            args[2],
                            Integer.parseInt(args[3]),
                            Integer.parseInt(args[4]),
                            Integer.parseInt(args[5]));
                    return;
                default:
                    throw new IllegalArgumentException("unknown child case " + args[1]);
            }
        }
        Bench.printReport(
                args, "train05,train1b,eval,checkpoint,generate", 2, RealSizeTraining::report);
    }
}
