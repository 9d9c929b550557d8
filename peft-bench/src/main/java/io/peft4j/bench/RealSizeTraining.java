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
import io.peft4j.tasks.CausalLmTask;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Issue 14's memory half at real sizes: LoRA r=8 all-linear training on random models with the
 * shapes of Qwen2.5-0.5B and Llama-3.2-1B (peak RSS, step time, the step's GEMM throughput over raw
 * GEMM throughput at the same size), evaluation of 15 vs 400 held-out sequences (peak RSS), and
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

    /**
     * Qwen2.5-0.5B: hidden 896, 24 layers, 14/2 heads, MLP 4864, vocab 151,936, q/k/v biases, tied.
     */
    static LlamaConfig qwen05b() {
        return LlamaConfig.builder()
                .modelType("qwen2")
                .vocabSize(151_936)
                .hiddenSize(896)
                .intermediateSize(4864)
                .numHiddenLayers(24)
                .numAttentionHeads(14)
                .numKeyValueHeads(2)
                .qkvBias(true)
                .tieWordEmbeddings(true)
                .maxPositionEmbeddings(32_768)
                .ropeTheta(1_000_000)
                .rmsNormEps(1e-6)
                .initializerRange(0.02)
                .build();
    }

    /** Llama-3.2-1B: hidden 2048, 16 layers, 32/8 heads, MLP 8192, vocab 128,256, tied. */
    static LlamaConfig llama1b() {
        return LlamaConfig.builder()
                .modelType("llama")
                .vocabSize(128_256)
                .hiddenSize(2048)
                .intermediateSize(8192)
                .numHiddenLayers(16)
                .numAttentionHeads(32)
                .numKeyValueHeads(8)
                .tieWordEmbeddings(true)
                .maxPositionEmbeddings(131_072)
                .ropeTheta(500_000)
                .rmsNormEps(1e-5)
                .initializerRange(0.02)
                .build();
    }

    /** SmolLM2-135M: hidden 576, 30 layers, 9/3 heads, MLP 1536, vocab 49,152, tied. */
    static LlamaConfig smollm135m() {
        return LlamaConfig.builder()
                .modelType("llama")
                .vocabSize(49_152)
                .hiddenSize(576)
                .intermediateSize(1536)
                .numHiddenLayers(30)
                .numAttentionHeads(9)
                .numKeyValueHeads(3)
                .tieWordEmbeddings(true)
                .maxPositionEmbeddings(8192)
                .ropeTheta(100_000)
                .rmsNormEps(1e-5)
                .initializerRange(0.02)
                .build();
    }

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
            case "qwen0.5b":
                return qwen05b();
            case "llama1b":
                return llama1b();
            case "smollm135m":
                return smollm135m();
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

    /**
     * GFLOP/s of a plain libtorch matmul of a train step's largest GEMM (tokens x hidden x
     * intermediate).
     */
    static double rawGemmGflops(NDManager manager, LlamaConfig c, int tokens, int rounds) {
        NDArray a = manager.randomNormal(new Shape(tokens, c.hiddenSize()));
        NDArray b = manager.randomNormal(new Shape(c.hiddenSize(), c.intermediateSize()));
        a.matMul(b).close();
        long start = System.nanoTime();
        for (int i = 0; i < rounds; i++) {
            a.matMul(b).close();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        return 2.0 * tokens * c.hiddenSize() * c.intermediateSize() * rounds / seconds / 1e9;
    }

    // ---------------------------------------------------------------- child processes

    /**
     * {@code child train <shape> <batch> <seq> <steps> <checkpointing>}: prints RESULT modelKb
     * peakKb stepMicros stepGemmMflop rawGemmMflops reset, where modelKb is the RSS once the model
     * is built and wrapped (before any step) and peakKb the peak over the timed steps (reset after
     * a warm-up step).
     */
    static void childTrain(String shape, int batch, int seq, int steps, boolean checkpointing) {
        LlamaConfig config = shape(shape);
        try (Model model = build(config);
                PeftModel peft = PeftModel.wrap(model.getBlock(), lora())) {
            ((LlamaForCausalLM) model.getBlock()).setGradientCheckpointing(checkpointing);
            List<long[]> data = randomSequences(batch * (steps + 1), seq, config.vocabSize(), SEED);
            CausalLmTask task = CausalLmTask.ofTokenIds(model.getBlock(), data, seq, 0);
            long built = Bench.rssKb();
            FineTuner warm =
                    FineTuner.builder().maxSteps(1).batchSize(batch).progress(false).build();
            warm.fit(peft, task, task);
            boolean reset = Bench.resetPeakRss();
            FineTuner tuner =
                    FineTuner.builder().maxSteps(steps).batchSize(batch).progress(false).build();
            double seconds = tuner.fit(peft, task, task).seconds();
            long peak = Math.max(Bench.peakRssKb(), built);
            double stepSeconds = seconds / steps;
            double raw;
            try (NDManager m = NDManager.newBaseManager()) {
                raw = rawGemmGflops(m, config, batch * seq, 5);
            }
            double flops = stepGemmFlops(config, batch, seq, 8);
            System.out.printf(
                    Locale.ROOT,
                    "RESULT %d %d %d %d %d %d%n",
                    built,
                    peak,
                    Math.round(stepSeconds * 1e6),
                    Math.round(flops / 1e6),
                    Math.round(raw * 1e3),
                    reset ? 1 : 0);
        }
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

    static long[] train(String shape, int batch, int seq, int steps, boolean checkpointing)
            throws Exception {
        return Bench.runChild(
                RealSizeTraining.class,
                List.of(
                        "child",
                        "train",
                        shape,
                        "" + batch,
                        "" + seq,
                        "" + steps,
                        "" + checkpointing));
    }

    static String trainLine(String shape, int seq, long[] r) {
        double stepS = r[2] / 1e6;
        double stepGflops = r[3] / 1e3 / stepS;
        double raw = r[4] / 1e3;
        return String.format(
                Locale.ROOT,
                "train %s LoRA r=8 all-linear %dx%d: peak RSS %s (model built %s;"
                        + " peak reset after a warm-up step: %s), step %.2f s, step GEMM %.1f GFLOP/s / raw GEMM %.1f GFLOP/s"
                        + " = %.3f",
                shape,
                BATCH,
                seq,
                gb(r[1]),
                gb(r[0]),
                r[5] == 1,
                stepS,
                stepGflops,
                raw,
                stepGflops / raw);
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
                        lines.add(trainLine(shape, seq, train(shape, BATCH, seq, steps, false)));
                        break;
                    }
                case "eval":
                    {
                        int len = value != null ? Integer.parseInt(value) : seq;
                        int few = tiny ? 3 : 15;
                        int many = tiny ? 40 : 400;
                        long[] a =
                                Bench.runChild(
                                        RealSizeTraining.class,
                                        List.of("child", "eval", small, "" + few, "" + len));
                        long[] b =
                                Bench.runChild(
                                        RealSizeTraining.class,
                                        List.of("child", "eval", small, "" + many, "" + len));
                        lines.add(
                                String.format(
                                        Locale.ROOT,
                                        "eval %s, %d-token sequences, batch %d: peak RSS %d sequences %s,"
                                                + " %d sequences %s, ratio %.3f (model built %s)",
                                        small,
                                        len,
                                        EVAL_BATCH,
                                        few,
                                        gb(a[1]),
                                        many,
                                        gb(b[1]),
                                        (double) b[1] / a[1],
                                        gb(a[0])));
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
                        long[] plain = train(shape, BATCH, len, steps, false);
                        long[] ckpt = train(shape, BATCH, len, steps, true);
                        lines.add(trainLine(shape, len, plain));
                        lines.add(trainLine(shape, len, ckpt) + " [activation checkpointing]");
                        double plainAct = plain[1] - plain[0];
                        double ckptAct = ckpt[1] - ckpt[0];
                        lines.add(
                                String.format(
                                        Locale.ROOT,
                                        "activation checkpointing %s %dx%d: activation memory (peak -"
                                                + " model built) %s -> %s, cut %.2fx; step time ratio %.3f",
                                        shape,
                                        BATCH,
                                        len,
                                        gb((long) plainAct),
                                        gb((long) ckptAct),
                                        plainAct / ckptAct,
                                        (double) ckpt[2] / plain[2]));
                        break;
                    }
                case "generate":
                    {
                        int prompt = tiny ? 8 : 32;
                        int shortRun = tiny ? 8 : 16;
                        int longRun = tiny ? 32 : 128;
                        long[] r =
                                Bench.runChild(
                                        RealSizeTraining.class,
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
                                        "generate %s greedy, KV cache, LoRA unmerged, prompt %d:"
                                                + " %.2f tokens/s over %d new tokens; peak RSS after %d tokens %s, after %d tokens %s"
                                                + " (model built %s)",
                                        small,
                                        prompt,
                                        longRun / (r[3] / 1e6),
                                        longRun,
                                        shortRun,
                                        gb(r[1]),
                                        longRun,
                                        gb(r[2]),
                                        gb(r[0])));
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
        io.peft4j.core.engine.MklCpuDispatch
                .install(); // first thing: MKL's fast path on AMD CPUs (the library never installs
        // it)
        if (args.length > 0 && args[0].equals("child")) {
            Bench.gradOff();
            switch (args[1]) {
                case "train":
                    childTrain(
                            args[2],
                            Integer.parseInt(args[3]),
                            Integer.parseInt(args[4]),
                            Integer.parseInt(args[5]),
                            Boolean.parseBoolean(args[6]));
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
