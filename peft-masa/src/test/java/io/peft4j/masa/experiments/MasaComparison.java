package io.peft4j.masa.experiments;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.PeftModel;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import io.peft4j.lora.LoraConfig;
import io.peft4j.masa.CompressedAttention;
import io.peft4j.masa.MasaCompressor;
import io.peft4j.masa.MasaConfig;
import io.peft4j.masa.MasaMode;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.Pooling;
import io.peft4j.models.TextTokenizer;
import io.peft4j.tasks.DataReaders;
import io.peft4j.tasks.LabeledText;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The miniature MASA comparison (README table). Part 1: compression alone, all-MiniLM-L6-v2 (L = 6;
 * S = 2, 3, 4, and S = 2 plus a rank-32 residual) measured by the fixture's two mean-pooled cosine
 * similarities and by the SST-2 dev accuracy of a linear probe (logistic regression on mean-pooled
 * embeddings) fitted on the uncompressed model; stories260K (L = 5; S = 1..4) by held-out
 * next-token NLL on tinyshakespeare. Part 2: stories260K compressed at S = 2, then fine-tuned with
 * MASA coefficients, MASA coefficients + atoms, or LoRA, against LoRA on the uncompressed model;
 * each arm's learning rate chosen on a validation split. Fixed seeds, one libtorch thread.
 *
 * <pre>
 * mvn -o -q -B -pl peft-masa -am test-compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt -Dmdep.includeScope=test
 * cd peft-masa && java -Xmx4g -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 \
 *     -cp target/test-classes:target/classes:$(cat target/cp.txt) io.peft4j.masa.experiments.MasaComparison --steps 300 [--part stories]
 * </pre>
 *
 * (exec:java with {@code -am} also runs in the parent and the other modules, which lack this
 * class.)
 */
public final class MasaComparison {

    private static final List<String> BERT_ATTN =
            List.of(
                    "attention.self.query",
                    "attention.self.key",
                    "attention.self.value",
                    "attention.output.dense");
    private static final List<String> LLAMA_ATTN = List.of("q_proj", "k_proj", "v_proj", "o_proj");
    private static final int SEQ = 64;

    private MasaComparison() {}

    public static void main(String[] args) throws Exception {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("ai.djl.pytorch.num_threads", "1");
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        int steps = 300;
        boolean skipMiniLm = false;
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals("--steps")) {
                steps = Integer.parseInt(args[i + 1]);
            }
            if (args[i].equals("--part")) {
                skipMiniLm = args[i + 1].equals("stories");
            }
        }
        Path shared = Path.of(System.getenv().getOrDefault("PEFT4J_SHARED", "../shared"));
        if (!Files.isDirectory(shared.resolve("models"))) {
            shared = Path.of("../../shared");
        }
        long t0 = System.nanoTime();
        if (java.util.Arrays.asList(args).contains("refine")) {
            refineMiniLm(shared);
            refineStories(shared);
            System.out.printf(Locale.ROOT, "total %.1f s%n", (System.nanoTime() - t0) / 1e9);
            return;
        }
        if (!skipMiniLm) {
            miniLm(shared);
        }
        stories(shared, steps);
        System.out.printf(Locale.ROOT, "total %.1f s%n", (System.nanoTime() - t0) / 1e9);
    }

    // ------------------------------------------------------------------ MiniLM

    private static void miniLm(Path shared) throws Exception {
        Path dir = shared.resolve("models/all-minilm-l6-v2");
        JsonObject fixture =
                JsonParser.parseString(
                                Files.readString(shared.resolve("fixtures/all-minilm-l6-v2.json")))
                        .getAsJsonObject();
        List<long[]> ids = new ArrayList<>();
        for (var c : fixture.getAsJsonArray("cases")) {
            JsonArray a = c.getAsJsonObject().getAsJsonArray("input_ids");
            long[] v = new long[a.size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = a.get(i).getAsLong();
            }
            ids.add(v);
        }
        JsonObject ref = fixture.getAsJsonObject("mean_pooled_cosine");
        System.out.printf(
                Locale.ROOT, "%n== all-MiniLM-L6-v2 compression (attention Q,K,V,O; L=6) ==%n");
        System.out.printf(
                Locale.ROOT,
                "reference cosines: guitar~instrument %.4f, guitar~stocks %.4f%n",
                ref.get("guitar~instrument").getAsDouble(),
                ref.get("guitar~stocks").getAsDouble());
        // SST-2 linear probe: logistic regression on the uncompressed model's mean-pooled sentence
        // embeddings (2,000 training sentences), then scored on the dev set (872) embedded by each
        // model
        List<LabeledText> probeTrain =
                DataReaders.sample(
                        DataReaders.readLabeled(shared.resolve("data/sst2/train.tsv")), 2000, 42);
        List<LabeledText> dev = DataReaders.readLabeled(shared.resolve("data/sst2/dev.tsv"));
        double[] probe;
        try (TextTokenizer tok =
                TextTokenizer.builder(dir.resolve("tokenizer.json")).maxLength(64).build()) {
            trainIds = encode(tok, probeTrain);
            devIds = encode(tok, dev);
        }
        trainLabels = probeTrain.stream().mapToInt(LabeledText::label).toArray();
        devLabels = dev.stream().mapToInt(LabeledText::label).toArray();
        System.out.println(
                "| setting | attention params removed | guitar~instrument | guitar~stocks | SST-2 dev acc, probe from uncompressed | mean rel. weight error |");
        try (Model model = HfCheckpoint.load(dir, Device.cpu())) {
            double[] c = cosines(model.getBlock(), ids);
            probe = logisticRegression(features(model.getBlock(), trainIds), trainLabels);
            System.out.printf(
                    Locale.ROOT,
                    "| uncompressed | 0 | %.4f | %.4f | %.4f | 0 |%n",
                    c[0],
                    c[1],
                    accuracy(probe, features(model.getBlock(), devIds), devLabels));
        }
        int[][] settings = {{2, 0}, {3, 0}, {4, 0}, {2, 32}};
        for (int[] s : settings) {
            try (Model model = HfCheckpoint.load(dir, Device.cpu());
                    NDManager m = NDManager.newBaseManager()) {
                MasaCompressor comp =
                        MasaCompressor.builder()
                                .targets(BERT_ATTN.toArray(new String[0]))
                                .atoms(s[0])
                                .residualRank(s[1])
                                .seed(1)
                                .build();
                try (CompressedAttention ca = comp.compress(model.getBlock(), m)) {
                    ca.applyTo(model.getBlock());
                    double[] c = cosines(model.getBlock(), ids);
                    double acc = accuracy(probe, features(model.getBlock(), devIds), devLabels);
                    System.out.printf(
                            Locale.ROOT,
                            "| S=%d%s | %.1f%% | %.4f | %.4f | %.4f | %.3f |%n",
                            s[0],
                            s[1] > 0 ? " + rank-" + s[1] + " residual" : "",
                            100 * ca.reduction(),
                            c[0],
                            c[1],
                            acc,
                            meanError(ca));
                    if (s[0] == 2 && s[1] == 0) {
                        // the compressed model saves and loads again: HF dense layout and the
                        // compact file
                        Path out = Files.createTempDirectory("masa-minilm");
                        HfCheckpoint.save(model.getBlock(), out);
                        ca.save(out.resolve("attention.masa.safetensors"));
                        try (Model back = HfCheckpoint.load(out, Device.cpu());
                                Model fresh = HfCheckpoint.load(dir, Device.cpu());
                                CompressedAttention compact =
                                        CompressedAttention.load(
                                                out.resolve("attention.masa.safetensors"), m)) {
                            double[] b = cosines(back.getBlock(), ids);
                            compact.applyTo(fresh.getBlock());
                            double[] f = cosines(fresh.getBlock(), ids);
                            System.out.printf(
                                    Locale.ROOT,
                                    "  reloaded: HF dense checkpoint %.6f %.6f; compact file (%d bytes vs %d for the"
                                            + " dense model.safetensors) %.6f %.6f%n",
                                    b[0],
                                    b[1],
                                    Files.size(out.resolve("attention.masa.safetensors")),
                                    Files.size(out.resolve("model.safetensors")),
                                    f[0],
                                    f[1]);
                        }
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ refinement vs plain Matrix
    // PCA

    /**
     * MiniLM at the compression levels L = 6 allows near 20% and 33% (S = 5: 16.7%, S = 4: 33.3%):
     * plain Matrix PCA against the data-aware refinement calibrated on 128 SST-2 training sentences
     * (one unpadded sentence per input). Scored on the SST-2 dev set: the probe's accuracy and the
     * mean cosine between each sentence's compressed and uncompressed embeddings.
     */
    private static void refineMiniLm(Path shared) throws Exception {
        Path dir = shared.resolve("models/all-minilm-l6-v2");
        List<LabeledText> probeTrain =
                DataReaders.sample(
                        DataReaders.readLabeled(shared.resolve("data/sst2/train.tsv")), 2000, 42);
        List<LabeledText> calib =
                DataReaders.sample(
                        DataReaders.readLabeled(shared.resolve("data/sst2/train.tsv")), 128, 7);
        List<LabeledText> dev = DataReaders.readLabeled(shared.resolve("data/sst2/dev.tsv"));
        long[][] calibIds;
        try (TextTokenizer tok =
                TextTokenizer.builder(dir.resolve("tokenizer.json")).maxLength(64).build()) {
            trainIds = encode(tok, probeTrain);
            devIds = encode(tok, dev);
            calibIds = encode(tok, calib);
        }
        trainLabels = probeTrain.stream().mapToInt(LabeledText::label).toArray();
        devLabels = dev.stream().mapToInt(LabeledText::label).toArray();
        System.out.printf(
                Locale.ROOT,
                "%n== all-MiniLM-L6-v2: Matrix PCA vs data-aware refinement (Q,K,V,O; L=6; calibration 128 SST-2 train"
                        + " sentences, 10 ALS rounds) ==%n");
        double[] probe;
        float[][] reference;
        try (Model model = HfCheckpoint.load(dir, Device.cpu())) {
            probe = logisticRegression(features(model.getBlock(), trainIds), trainLabels);
            reference = features(model.getBlock(), devIds);
            System.out.printf(
                    Locale.ROOT,
                    "uncompressed: SST-2 dev probe accuracy %.4f%n",
                    accuracy(probe, reference, devLabels));
        }
        System.out.println(
                "| S | attention params removed | method | SST-2 dev acc (probe from uncompressed) | mean cosine to uncompressed (dev) | calibration output error (sum over dictionaries) | seconds |");
        System.out.println("|---:|---:|---|---:|---:|---:|---:|");
        for (int atoms : new int[] {5, 4}) {
            double[] err = null; // the refined run reports both output errors (PCA's is its start)
            for (boolean refine : new boolean[] {true, false}) {
                try (Model model = HfCheckpoint.load(dir, Device.cpu());
                        NDManager m = NDManager.newBaseManager()) {
                    List<NDList> calibration = new ArrayList<>();
                    for (long[] ids : calibIds) {
                        calibration.add(new NDList(m.create(new long[][] {ids})));
                    }
                    MasaCompressor.Builder b =
                            MasaCompressor.builder()
                                    .targets(BERT_ATTN.toArray(new String[0]))
                                    .atoms(atoms);
                    if (refine) {
                        b.calibration(calibration).refinementIterations(10);
                    }
                    long t0 = System.nanoTime();
                    try (CompressedAttention ca = b.build().compress(model.getBlock(), m)) {
                        double seconds = (System.nanoTime() - t0) / 1e9;
                        err = refine ? outputError(ca) : err;
                        ca.applyTo(model.getBlock());
                        float[][] f = features(model.getBlock(), devIds);
                        System.out.printf(
                                Locale.ROOT,
                                "| %d | %.1f%% | %s | %.4f | %.4f | %.4g | %.0f |%n",
                                atoms,
                                100 * ca.reduction(),
                                refine ? "data-aware refinement" : "Matrix PCA",
                                accuracy(probe, f, devLabels),
                                meanCosine(f, reference),
                                refine ? err[1] : err[0],
                                seconds);
                    }
                }
            }
        }
    }

    /** Summed over dictionaries: {PCA output error, refined output error}. */
    private static double[] outputError(CompressedAttention ca) {
        double[] sum = new double[2];
        for (String k : ca.dictionaryKeys()) {
            double[] e = ca.calibrationOutputError(k);
            sum[0] += e[0];
            sum[1] += e[1];
        }
        return sum;
    }

    private static double meanCosine(float[][] a, float[][] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            double dot = 0;
            for (int j = 0; j < a[i].length; j++) {
                dot += a[i][j] * b[i][j];
            }
            sum += dot; // both normalised
        }
        return sum / a.length;
    }

    /**
     * stories260K (L = 5): S = 4 (20%) and S = 3 (40%; 33% is not reachable with 5 layers and one
     * S), calibrated on 64 windows of 64 tokens from the training part of tinyshakespeare, scored
     * by held-out NLL on its last 30,000 characters (as the table above).
     */
    private static void refineStories(Path shared) throws Exception {
        Path dir = shared.resolve("models/stories260K");
        String text =
                Files.readString(
                        shared.resolve("data/tinyshakespeare/input.txt"), StandardCharsets.UTF_8);
        long[] calibTokens;
        long[] heldOut;
        try (TextTokenizer tok = TextTokenizer.builder(dir).build()) {
            calibTokens = tok.encode(text.substring(0, 60_000));
            heldOut = tok.encode(text.substring(text.length() - 30_000));
        }
        System.out.printf(
                Locale.ROOT,
                "%n== stories260K: Matrix PCA vs data-aware refinement (Q,K,V,O; L=5; calibration 64 windows of %d"
                        + " tokens from tinyshakespeare's first 60,000 characters; held-out NLL on its last 30,000) ==%n",
                SEQ);
        try (Model model = HfCheckpoint.load(dir, Device.cpu())) {
            System.out.printf(
                    Locale.ROOT,
                    "uncompressed held-out NLL %.4f%n",
                    nll(model.getBlock(), heldOut));
        }
        System.out.println(
                "| S | attention params removed | method | held-out NLL | calibration output error (sum over dictionaries) | seconds |");
        System.out.println("|---:|---:|---|---:|---:|---:|");
        for (int atoms : new int[] {4, 3}) {
            double[] err = null; // the refined run reports both output errors (PCA's is its start)
            for (boolean refine : new boolean[] {true, false}) {
                try (Model model = HfCheckpoint.load(dir, Device.cpu());
                        NDManager m = NDManager.newBaseManager()) {
                    List<NDList> calibration = new ArrayList<>();
                    for (int w = 0; w < 64; w++) {
                        long[] x =
                                java.util.Arrays.copyOfRange(calibTokens, w * SEQ, (w + 1) * SEQ);
                        calibration.add(new NDList(m.create(new long[][] {x})));
                    }
                    long t0 = System.nanoTime();
                    MasaCompressor.Builder b =
                            MasaCompressor.builder()
                                    .targets(LLAMA_ATTN.toArray(new String[0]))
                                    .atoms(atoms);
                    if (refine) {
                        b.calibration(calibration).refinementIterations(10);
                    }
                    try (CompressedAttention ca = b.build().compress(model.getBlock(), m)) {
                        double seconds = (System.nanoTime() - t0) / 1e9;
                        err = refine ? outputError(ca) : err;
                        ca.applyTo(model.getBlock());
                        System.out.printf(
                                Locale.ROOT,
                                "| %d | %.1f%% | %s | %.4f | %.4g | %.0f |%n",
                                atoms,
                                100 * ca.reduction(),
                                refine ? "data-aware refinement" : "Matrix PCA",
                                nll(model.getBlock(), heldOut),
                                refine ? err[1] : err[0],
                                seconds);
                    }
                }
            }
        }
    }

    private static long[][] trainIds;
    private static long[][] devIds;
    private static int[] trainLabels;
    private static int[] devLabels;

    private static long[][] encode(TextTokenizer tok, List<LabeledText> examples) {
        long[][] out = new long[examples.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = tok.encode(examples.get(i).text());
        }
        return out;
    }

    /** Mean-pooled, L2-normalised sentence embeddings (n, h) of a BertModel. */
    private static float[][] features(Block bert, long[][] ids) {
        float[][] out = new float[ids.length][];
        try (NoGrad off = NoGrad.enter();
                NDManager m = NDManager.newBaseManager()) {
            ParameterStore ps = new ParameterStore(m, false);
            for (int start = 0; start < ids.length; start += 64) {
                int end = Math.min(ids.length, start + 64);
                int width = 0;
                for (int i = start; i < end; i++) {
                    width = Math.max(width, ids[i].length);
                }
                long[][] x = new long[end - start][width];
                long[][] mask = new long[end - start][width];
                for (int i = start; i < end; i++) {
                    System.arraycopy(ids[i], 0, x[i - start], 0, ids[i].length);
                    java.util.Arrays.fill(mask[i - start], 0, ids[i].length, 1L);
                }
                try (NDManager s = m.newSubManager()) {
                    NDArray xa = s.create(x);
                    NDArray ma = s.create(mask);
                    NDArray hidden = bert.forward(ps, new NDList(xa, ma), false).head();
                    NDArray pooled = Pooling.normalize(Pooling.mean(hidden, ma));
                    for (int i = start; i < end; i++) {
                        out[i] = pooled.get(i - start).toFloatArray();
                    }
                }
            }
        }
        return out;
    }

    /** L2-regularised logistic regression by full-batch gradient descent; weights then bias. */
    private static double[] logisticRegression(float[][] x, int[] y) {
        int d = x[0].length;
        double[] w = new double[d + 1];
        double[] g = new double[d + 1];
        double lr = 2.0;
        double l2 = 1e-4;
        for (int it = 0; it < 2000; it++) {
            java.util.Arrays.fill(g, 0);
            for (int i = 0; i < x.length; i++) {
                double z = w[d];
                for (int j = 0; j < d; j++) {
                    z += w[j] * x[i][j];
                }
                double err = 1 / (1 + Math.exp(-z)) - y[i];
                for (int j = 0; j < d; j++) {
                    g[j] += err * x[i][j];
                }
                g[d] += err;
            }
            for (int j = 0; j <= d; j++) {
                w[j] -= lr * (g[j] / x.length + (j < d ? l2 * w[j] : 0));
            }
        }
        System.out.printf(Locale.ROOT, "  probe train accuracy %.4f%n", accuracy(w, x, y));
        return w;
    }

    private static double accuracy(double[] w, float[][] x, int[] y) {
        int d = x[0].length;
        int correct = 0;
        for (int i = 0; i < x.length; i++) {
            double z = w[d];
            for (int j = 0; j < d; j++) {
                z += w[j] * x[i][j];
            }
            correct += (z > 0 ? 1 : 0) == y[i] ? 1 : 0;
        }
        return correct / (double) x.length;
    }

    private static double meanError(CompressedAttention ca) {
        double sum = 0;
        int n = 0;
        for (String k : ca.dictionaryKeys()) {
            for (double e : ca.relativeErrors(k)) {
                sum += e;
                n++;
            }
        }
        return sum / n;
    }

    private static double[] cosines(Block bert, List<long[]> ids) {
        try (NDManager m = NDManager.newBaseManager()) {
            ParameterStore ps = new ParameterStore(m, false);
            NDArray[] pooled = new NDArray[ids.size()];
            for (int i = 0; i < ids.size(); i++) {
                NDArray x = m.create(new long[][] {ids.get(i)});
                NDArray hidden = bert.forward(ps, new NDList(x), false).head();
                pooled[i] =
                        Pooling.normalize(
                                        Pooling.mean(
                                                hidden,
                                                m.ones(
                                                        x.getShape(),
                                                        ai.djl.ndarray.types.DataType.INT64)))
                                .get(0);
            }
            return new double[] {
                pooled[0].dot(pooled[1]).getFloat(), pooled[0].dot(pooled[2]).getFloat()
            };
        }
    }

    // ------------------------------------------------------------------ stories260K

    private static void stories(Path shared, int steps) throws Exception {
        Path dir = shared.resolve("models/stories260K");
        String text =
                Files.readString(
                        shared.resolve("data/tinyshakespeare/input.txt"), StandardCharsets.UTF_8);
        long[] train;
        long[] heldOut;
        long[] val;
        try (TextTokenizer tok = TextTokenizer.builder(dir).build()) {
            train = tok.encode(text.substring(0, 600_000));
            val = tok.encode(text.substring(text.length() - 60_000, text.length() - 30_000));
            heldOut = tok.encode(text.substring(text.length() - 30_000));
        }
        System.out.printf(
                Locale.ROOT,
                "%n== stories260K (L=5) on tinyshakespeare: %d train tokens, %d held-out tokens, windows of %d ==%n",
                train.length,
                heldOut.length,
                SEQ);
        try (Model model = HfCheckpoint.load(dir, Device.cpu())) {
            System.out.printf(
                    Locale.ROOT, "| uncompressed | 0 | %.4f |%n", nll(model.getBlock(), heldOut));
        }
        for (int s = 1; s <= 4; s++) {
            try (Model model = HfCheckpoint.load(dir, Device.cpu());
                    NDManager m = NDManager.newBaseManager()) {
                try (CompressedAttention ca =
                        MasaCompressor.builder()
                                .targets(LLAMA_ATTN.toArray(new String[0]))
                                .atoms(s)
                                .build()
                                .compress(model.getBlock(), m)) {
                    ca.applyTo(model.getBlock());
                    System.out.printf(
                            Locale.ROOT,
                            "| S=%d | %.1f%% | %.4f | mean rel. weight error %.3f%n",
                            s,
                            100 * ca.reduction(),
                            nll(model.getBlock(), heldOut),
                            meanError(ca));
                }
            }
        }
        System.out.printf(
                Locale.ROOT,
                "%n-- fine-tuning on tinyshakespeare (first 600,000 characters): %d steps, batch 8 x %d,"
                        + " AdamW, warm-up %d, seed 7; lr chosen on a validation split (the 30,000 characters before the held-out"
                        + " ones) --%n",
                steps,
                SEQ,
                steps / 10);
        System.out.println(
                "| model | method | lr | trainable | held-out NLL before | val NLL after | held-out NLL after | train loss by quarter | ms/step |");
        LoraConfig lora = LoraConfig.builder().rank(4).alpha(8).targets(LLAMA_ATTN).build();
        best(
                dir,
                0,
                "LoRA r=4 QKVO",
                lora,
                new double[] {3e-3, 1e-2, 3e-2},
                train,
                val,
                heldOut,
                steps);
        best(
                dir,
                2,
                "MASA coefficients S=2",
                MasaConfig.builder().targets(LLAMA_ATTN).atoms(2).build(),
                new double[] {1e-2, 5e-2, 2e-1},
                train,
                val,
                heldOut,
                steps);
        best(
                dir,
                2,
                "MASA coefficients+atoms S=2",
                MasaConfig.builder()
                        .targets(LLAMA_ATTN)
                        .atoms(2)
                        .mode(MasaMode.COEFFICIENTS_AND_ATOMS)
                        .build(),
                new double[] {1e-3, 3e-3},
                train,
                val,
                heldOut,
                steps);
        best(
                dir,
                2,
                "LoRA r=4 QKVO",
                lora,
                new double[] {3e-3, 1e-2, 3e-2},
                train,
                val,
                heldOut,
                steps);
        System.out.println();
        System.out.println("chosen (lowest val NLL):");
        chosen.forEach(System.out::println);
    }

    private static final List<String> chosen = new ArrayList<>();

    private static void best(
            Path dir,
            int compressAtoms,
            String label,
            AdapterConfig config,
            double[] lrs,
            long[] train,
            long[] val,
            long[] heldOut,
            int steps) {
        String bestRow = null;
        double bestVal = Double.POSITIVE_INFINITY;
        for (double lr : lrs) {
            try {
                Object[] r =
                        finetune(dir, compressAtoms, label, config, lr, train, val, heldOut, steps);
                if ((double) r[0] < bestVal) {
                    bestVal = (double) r[0];
                    bestRow = (String) r[1];
                }
            } catch (RuntimeException e) {
                System.out.println("FAILED " + label + " lr " + lr + ": " + e);
                e.printStackTrace(System.out);
            }
        }
        if (bestRow != null) {
            chosen.add(bestRow);
        }
    }

    private static Object[] finetune(
            Path dir,
            int compressAtoms,
            String label,
            AdapterConfig config,
            double lr,
            long[] train,
            long[] val,
            long[] heldOut,
            int steps) {
        try (Model model = HfCheckpoint.load(dir, Device.cpu());
                NDManager m = NDManager.newBaseManager()) {
            Block block = model.getBlock();
            if (compressAtoms > 0) {
                try (CompressedAttention ca =
                        MasaCompressor.builder()
                                .targets(LLAMA_ATTN.toArray(new String[0]))
                                .atoms(compressAtoms)
                                .build()
                                .compress(block, m)) {
                    ca.applyTo(block);
                }
            }
            double before = nll(block, heldOut);
            int windows = (train.length - 1) / SEQ;
            TrainingData data =
                    new TrainingData() {
                        @Override
                        public int size() {
                            return windows;
                        }

                        @Override
                        public NDList batch(NDManager bm, int[] idx) {
                            long[][] x = new long[idx.length][SEQ];
                            long[][] y = new long[idx.length][SEQ];
                            for (int i = 0; i < idx.length; i++) {
                                System.arraycopy(train, idx[i] * SEQ, x[i], 0, SEQ);
                                System.arraycopy(train, idx[i] * SEQ + 1, y[i], 0, SEQ);
                            }
                            return new NDList(bm.create(x), bm.create(y));
                        }
                    };
            try (PeftModel peft = PeftModel.wrap(block, config)) {
                long t = System.nanoTime();
                TrainingResult r =
                        FineTuner.builder()
                                .learningRate(lr)
                                .maxSteps(steps)
                                .batchSize(8)
                                .warmupSteps(steps / 10)
                                .seed(7)
                                .progress(false)
                                .build()
                                .fit(
                                        peft,
                                        (b, training) ->
                                                tokenNll(
                                                        peft.forward(new NDList(b.get(0)), training)
                                                                .head(),
                                                        b.get(1)),
                                        data);
                double secs = (System.nanoTime() - t) / 1e9;
                if (r.losses().isEmpty()) {
                    throw new IllegalStateException("no training steps ran");
                }
                double valAfter = nll(block, val);
                double after = nll(block, heldOut);
                StringBuilder q = new StringBuilder();
                for (int k = 0; k < 4; k++) {
                    int a = k * r.losses().size() / 4;
                    int z = (k + 1) * r.losses().size() / 4;
                    double sum = 0;
                    for (int i = a; i < z; i++) {
                        sum += r.losses().get(i);
                    }
                    q.append(
                            String.format(
                                    Locale.ROOT,
                                    "%s%.3f",
                                    k == 0 ? "" : " ",
                                    sum / Math.max(1, z - a)));
                }
                String row =
                        String.format(
                                Locale.ROOT,
                                "| %s | %s | %.0e | %,d | %.4f | %.4f | %.4f | %s | %.0f |",
                                compressAtoms > 0
                                        ? "MASA-compressed S=" + compressAtoms
                                        : "uncompressed",
                                label,
                                lr,
                                peft.trainableSummary().trainable(),
                                before,
                                valAfter,
                                after,
                                q,
                                1000 * secs / r.steps());
                System.out.println(row);
                return new Object[] {valAfter, row};
            }
        }
    }

    private static NDArray tokenNll(NDArray logits, NDArray targets) {
        NDArray logp = logits.logSoftmax(-1);
        return logp.gather(targets.expandDims(-1), -1).neg().mean();
    }

    /** Mean next-token NLL over non-overlapping windows of the held-out tokens. */
    private static double nll(Block lm, long[] tokens) {
        int windows = Math.min(120, (tokens.length - 1) / SEQ);
        double sum = 0;
        try (NoGrad off = NoGrad.enter();
                NDManager m = NDManager.newBaseManager()) {
            ParameterStore ps = new ParameterStore(m, false);
            for (int w = 0; w < windows; w += 20) {
                int n = Math.min(20, windows - w);
                long[][] x = new long[n][SEQ];
                long[][] y = new long[n][SEQ];
                for (int i = 0; i < n; i++) {
                    System.arraycopy(tokens, (w + i) * SEQ, x[i], 0, SEQ);
                    System.arraycopy(tokens, (w + i) * SEQ + 1, y[i], 0, SEQ);
                }
                try (NDManager sm = m.newSubManager()) {
                    NDArray logits = lm.forward(ps, new NDList(sm.create(x)), false).head();
                    sum += tokenNll(logits, sm.create(y)).getFloat() * n;
                }
            }
        }
        return sum / windows;
    }
}
