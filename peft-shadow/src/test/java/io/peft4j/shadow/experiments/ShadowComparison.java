package io.peft4j.shadow.experiments;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import com.google.common.base.Splitter;
import io.peft4j.core.AdapterScope;
import io.peft4j.core.PeftModel;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.train.Evaluation;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.LossFunction;
import io.peft4j.core.train.TrainableModel;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import io.peft4j.lora.LoraConfig;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.LlamaForCausalLM;
import io.peft4j.models.TextTokenizer;
import io.peft4j.shadow.DetachedShadow;
import io.peft4j.shadow.ShadowConfig;
import io.peft4j.shadow.ShadowHead;
import io.peft4j.shadow.ShadowModel;
import io.peft4j.tasks.ClassificationTask;
import io.peft4j.tasks.DataReaders;
import io.peft4j.tasks.LabeledText;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Miniature ShadowPEFT vs LoRA comparison (README table), two settings:
 *
 * <ul>
 *   <li>{@code lm}: stories260K (5-layer LLaMA, h 64) adapted to tinyshakespeare; chunks of 128
 *       tokens; train on the first 80 % of the text, choose the learning rate on a validation split
 *       (80-90 %), report the held-out NLL on the last 10 %.
 *   <li>{@code cls}: all-MiniLM-L6-v2 + a new 2-class head on SST-2: a 2,000-sentence training
 *       subset, the learning rate chosen on 500 other training sentences, accuracy on the full dev
 *       set (872).
 * </ul>
 *
 * Per method: a learning-rate choice, trainable parameters, step time, and inference time against
 * the base measured alternately (median). ShadowPEFT: also its detached shadow and shadow
 * pretraining followed by attaching. Fixed seeds, one PyTorch thread.
 *
 * <pre>
 * mvn -o -q -B -pl peft-shadow -am test-compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt -Dmdep.includeScope=test
 * cd peft-shadow
 * java -Xmx4g -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 \
 *     -cp target/test-classes:target/classes:$(cat target/cp.txt) io.peft4j.shadow.experiments.ShadowComparison \
 *     lm|cls|all [steps] [LoRA lrs, comma-separated] [ShadowPEFT lrs]
 * </pre>
 *
 * (exec:java with {@code -am} also runs peft-examples' own main class, so the class path is built
 * once.)
 */
public final class ShadowComparison {

    private static final int SEQ = 128;
    private static final int BATCH = 8;
    private static final int CLS_BATCH = 16;
    private static final int CLS_MAX_LEN = 64;
    private static final int ROUNDS = 21;

    private static final List<String> rows = new ArrayList<>();

    private ShadowComparison() {}

    public static void main(String[] args) throws Exception {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("ai.djl.pytorch.num_threads", "1");
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        String part = args.length > 0 ? args[0] : "all";
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 400;
        Path shared =
                Path.of(System.getProperty("peft4j.shared", "../shared"))
                        .toAbsolutePath()
                        .normalize();
        if (!Files.isDirectory(shared.resolve("models/stories260K"))) {
            shared = Path.of("..", "..", "shared").toAbsolutePath().normalize();
        }
        long t0 = System.nanoTime();
        if (part.equals("lm") || part.equals("all")) {
            lm(
                    shared,
                    steps,
                    lrs(args, 2, new double[] {3e-3, 1e-2}),
                    lrs(args, 3, new double[] {3e-3, 1e-2, 3e-2}));
        }
        if (part.equals("cls") || part.equals("all")) {
            cls(
                    shared,
                    steps,
                    lrs(args, 2, new double[] {1e-3, 3e-3}),
                    lrs(args, 3, new double[] {1e-3, 3e-3}));
        }
        System.out.printf(Locale.ROOT, "%ntotal %.1f s%n", (System.nanoTime() - t0) / 1e9);
    }

    private static double[] lrs(String[] args, int i, double[] dflt) {
        if (args.length <= i) {
            return dflt;
        }
        if (args[i].equals("-")) {
            return new double[0]; // skip this method's arm
        }
        return Arrays.stream(args[i].split(",")).mapToDouble(Double::parseDouble).toArray();
    }

    // ------------------------------------------------------------------ stories260K

    private static void lm(Path shared, int steps, double[] lrs, double[] shadowLrs)
            throws Exception {
        Path modelDir = shared.resolve("models/stories260K");
        String text =
                Files.readString(
                        shared.resolve("data/tinyshakespeare/input.txt"), StandardCharsets.UTF_8);
        Engine.getInstance().setRandomSeed(42);
        try (Model model = HfCheckpoint.load(modelDir, Device.cpu());
                TextTokenizer tok =
                        TextTokenizer.builder(modelDir.resolve("tokenizer.json")).build()) {
            LlamaForCausalLM lm = (LlamaForCausalLM) model.getBlock();
            int n = text.length();
            long[][] train = chunks(tok, text.substring(0, Math.min((int) (n * 0.8), 600_000)));
            long[][] val =
                    Arrays.copyOf(
                            chunks(tok, text.substring((int) (n * 0.8), (int) (n * 0.9))), 32);
            long[][] test = Arrays.copyOf(chunks(tok, text.substring((int) (n * 0.9))), 64);
            System.out.printf(
                    Locale.ROOT,
                    "== stories260K -> tinyshakespeare: %d train chunks, %d val, %d test chunks of %d tokens;"
                            + " %d steps x batch %d, AdamW, warm-up 10%%, linear decay, clip 1.0, seed 42; lrs LoRA %s, ShadowPEFT %s ==%n",
                    train.length,
                    val.length,
                    test.length,
                    SEQ,
                    steps,
                    BATCH,
                    Arrays.toString(lrs),
                    Arrays.toString(shadowLrs));
            NDManager m = model.getNDManager();
            Function<NDArray, NDArray> base =
                    ids ->
                            lm.forward(
                                            new ParameterStore(ids.getManager(), false),
                                            new NDList(ids),
                                            false)
                                    .head();
            double baseTest = nll(m, test, base);
            double baseVal = nll(m, val, base);
            System.out.printf(Locale.ROOT, "base: val %.4f test %.4f%n", baseVal, baseTest);
            rows.add(
                    "| method | lr (chosen on val) | trainable params | val NLL | held-out NLL | train step (ms) | forward vs base (ms, 16x128) |");
            rows.add("|---|---|---:|---:|---:|---:|---:|");
            rows.add(
                    String.format(
                            Locale.ROOT,
                            "| base (no training) | - | 0 | %.4f | %.4f | - | - |",
                            baseVal,
                            baseTest));

            AdapterConfig lora = LoraConfig.builder().rank(8).alpha(16).allLinear().build();
            Run best = null;
            for (double lr : lrs) {
                try (PeftModel peft = PeftModel.wrap(lm, lora)) {
                    Run r =
                            lmRunSafe(
                                    () ->
                                            lmRun(
                                                    "LoRA r=8 all-linear",
                                                    peft,
                                                    lr,
                                                    steps,
                                                    train,
                                                    val,
                                                    test,
                                                    m,
                                                    (b, t) ->
                                                            ShadowModel.nextTokenLoss(
                                                                    peft.forward(b, t).head(),
                                                                    b.get(0),
                                                                    null),
                                                    null));
                    if (r != null && (best == null || r.val < best.val)) {
                        best = r;
                    }
                }
            }
            rows.add(best.row());

            Run bestShadow = null;
            for (double lr : shadowLrs) {
                try (PeftModel peft = PeftModel.wrap(lm, ShadowConfig.builder().build())) {
                    ShadowModel shadow = ShadowModel.of(peft);
                    Run r =
                            lmRunSafe(
                                    () ->
                                            lmRun(
                                                    "ShadowPEFT (1 shadow layer, b=16, g=10)",
                                                    peft,
                                                    lr,
                                                    steps,
                                                    train,
                                                    val,
                                                    test,
                                                    m,
                                                    (b, t) ->
                                                            shadow.causalLmLoss(b.get(0), null, t),
                                                    shadow));
                    if (r != null && (bestShadow == null || r.val < bestShadow.val)) {
                        bestShadow = r;
                    }
                }
            }
            rows.add(bestShadow.row());
            rows.add(bestShadow.detachedRow);

            // shadow pretrained alone, then attached; both at ShadowPEFT's chosen lr
            double lr = bestShadow.lr;
            Path dir = Files.createTempDirectory("shadow-pretrained");
            try (DetachedShadow pre = DetachedShadow.create(lm, ShadowConfig.builder().build())) {
                TrainingResult r =
                        train(pre, steps, lr, train, (b, t) -> pre.loss(b.get(0), null, t), null);
                double v = nll(m, val, ids -> pre.logits(ids, null, false));
                double te = nll(m, test, ids -> pre.logits(ids, null, false));
                System.out.printf(
                        Locale.ROOT,
                        "shadow pretrained alone lr %.0e: val %.4f test %.4f; %s%n",
                        lr,
                        v,
                        te,
                        curve(r));
                rows.add(
                        String.format(
                                Locale.ROOT,
                                "| shadow pretrained alone, %d steps (detached) | %.0e | %,d | %.4f | %.4f | %.1f | - |",
                                steps,
                                lr,
                                pre.parameterCount(),
                                v,
                                te,
                                1000 * r.seconds() / r.steps()));
                pre.save(dir);
            }
            try (PeftModel peft =
                    PeftModel.wrap(
                            lm, ShadowConfig.builder().pretrainedShadow(dir.toString()).build())) {
                ShadowModel shadow = ShadowModel.of(peft);
                Run r =
                        lmRun(
                                "ShadowPEFT from the pretrained shadow, +" + steps + " steps",
                                peft,
                                lr,
                                steps,
                                train,
                                val,
                                test,
                                m,
                                (b, t) -> shadow.causalLmLoss(b.get(0), null, t),
                                shadow);
                rows.add(r.row());
                rows.add(r.detachedRow);
            }
            flush();
        }
    }

    /**
     * Runs one arm; a failure (e.g. FineTuner's non-finite check) is printed and the arm skipped.
     */
    private static <T> T lmRunSafe(Supplier<T> run) {
        try {
            return run.get();
        } catch (RuntimeException e) {
            System.out.println("FAILED: " + e);
            e.printStackTrace(System.out);
            return null;
        }
    }

    private static final class Run {
        String label;
        double lr;
        long params;
        double val;
        double test;
        double stepMs;
        String forward = "-";
        String detachedRow;

        String row() {
            return String.format(
                    Locale.ROOT,
                    "| %s | %.0e | %,d | %.4f | %.4f | %.1f | %s |",
                    label,
                    lr,
                    params,
                    val,
                    test,
                    stepMs,
                    forward);
        }
    }

    private static Run lmRun(
            String label,
            PeftModel peft,
            double lr,
            int steps,
            long[][] train,
            long[][] val,
            long[][] test,
            NDManager m,
            LossFunction loss,
            ShadowModel shadow) {
        Function<NDArray, NDArray> adapted = ids -> peft.forward(new NDList(ids)).head();
        long[] evalNanos = {0};
        TrainingResult tr =
                train(
                        peft,
                        steps,
                        lr,
                        train,
                        loss,
                        (step, model, mgr) -> {
                            long e0 = System.nanoTime();
                            double v = nll(m, val, adapted);
                            evalNanos[0] += System.nanoTime() - e0;
                            return Map.of("val_nll", v);
                        });
        Run r = new Run();
        r.label = label;
        r.lr = lr;
        r.params = peft.trainableSummary().trainable();
        r.val = nll(m, val, adapted);
        r.test = nll(m, test, adapted);
        r.stepMs = (1000 * tr.seconds() - evalNanos[0] / 1e6) / tr.steps();
        double[] t =
                alternate(
                        m,
                        test,
                        peft,
                        adapted,
                        shadow == null ? null : ids -> shadow.detached().logits(ids, null, false));
        r.forward = String.format(Locale.ROOT, "%.1f vs %.1f (%.2fx)", t[1], t[0], t[1] / t[0]);
        System.out.printf(
                Locale.ROOT,
                "%s lr %.0e: val %.4f test %.4f, %.1f ms/step, forward %s; %s%n",
                label,
                lr,
                r.val,
                r.test,
                r.stepMs,
                r.forward,
                curve(tr));
        if (shadow != null) {
            DetachedShadow d = shadow.detached();
            double dv = nll(m, val, ids -> d.logits(ids, null, false));
            double dt = nll(m, test, ids -> d.logits(ids, null, false));
            System.out.printf(
                    Locale.ROOT,
                    "  its detached shadow: val %.4f test %.4f, forward %.1f ms%n",
                    dv,
                    dt,
                    t[2]);
            r.detachedRow =
                    String.format(
                            Locale.ROOT,
                            "| ... its detached shadow (no base layer) | | (%,d of them) | %.4f | %.4f | - | %.1f vs %.1f (%.2fx) |",
                            shadow.shadowParameterCount(),
                            dv,
                            dt,
                            t[2],
                            t[0],
                            t[2] / t[0]);
        }
        return r;
    }

    /** Validation curve and mean training loss over each quarter. */
    private static String curve(TrainingResult r) {
        StringBuilder sb = new StringBuilder("train loss by quarter:");
        List<Float> l = r.losses();
        for (int q = 0; q < 4; q++) {
            int a = q * l.size() / 4;
            int b = (q + 1) * l.size() / 4;
            double s = 0;
            for (int i = a; i < b; i++) {
                s += l.get(i);
            }
            sb.append(String.format(Locale.ROOT, " %.3f", s / Math.max(1, b - a)));
        }
        if (!r.evaluations().isEmpty()) {
            sb.append("; eval:");
            for (Evaluation e : r.evaluations()) {
                sb.append(' ').append(e.step()).append('=');
                e.metrics().values().forEach(v -> sb.append(String.format(Locale.ROOT, "%.4f", v)));
            }
        }
        return sb.toString();
    }

    private static long[][] chunks(TextTokenizer tok, String text) {
        List<Long> all = new ArrayList<>();
        for (String block : Splitter.on("\n\n").split(text)) {
            for (long id : tok.encode(block + "\n\n")) {
                all.add(id);
            }
        }
        int n = all.size() / SEQ;
        long[][] out = new long[n][SEQ];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < SEQ; j++) {
                out[i][j] = all.get(i * SEQ + j);
            }
        }
        return out;
    }

    private static TrainingResult train(
            TrainableModel model,
            int steps,
            double lr,
            long[][] data,
            LossFunction loss,
            io.peft4j.core.train.EvalCallback eval) {
        TrainingData td =
                new TrainingData() {
                    @Override
                    public int size() {
                        return data.length;
                    }

                    @Override
                    public NDList batch(NDManager manager, int[] indices) {
                        long[][] rows = new long[indices.length][];
                        for (int i = 0; i < indices.length; i++) {
                            rows[i] = data[indices[i]];
                        }
                        return new NDList(manager.create(rows));
                    }
                };
        FineTuner.Builder b =
                FineTuner.builder()
                        .learningRate(lr)
                        .warmupSteps(steps / 10)
                        .maxSteps(steps)
                        .batchSize(BATCH)
                        .seed(42)
                        .progress(false);
        if (eval != null) {
            b.evaluation(Math.max(1, steps / 4), eval);
        }
        return b.build().fit(model, loss, td);
    }

    private static double nll(NDManager m, long[][] data, Function<NDArray, NDArray> logits) {
        double total = 0;
        int batches = 0;
        try (NoGrad off = NoGrad.enter()) {
            for (int i = 0; i + 16 <= data.length; i += 16) {
                try (NDManager s = m.newSubManager()) {
                    NDArray ids = s.create(Arrays.copyOfRange(data, i, i + 16));
                    total += ShadowModel.nextTokenLoss(logits.apply(ids), ids, null).getFloat();
                    batches++;
                }
            }
        }
        return total / batches;
    }

    /**
     * Inference forwards of 16 sequences, alternating base (adapters disabled), adapted and (when
     * given) the detached shadow, 3 warm-up rounds then {@link #ROUNDS}; medians in ms {@code
     * [base, adapted, detached]}.
     */
    private static double[] alternate(
            NDManager m,
            long[][] data,
            PeftModel peft,
            Function<NDArray, NDArray> adapted,
            Function<NDArray, NDArray> detached) {
        double[][] t = new double[3][ROUNDS];
        try (NoGrad off = NoGrad.enter()) {
            for (int r = -3; r < ROUNDS; r++) {
                for (int k = 0; k < 3; k++) {
                    if (k == 2 && detached == null) {
                        continue;
                    }
                    try (NDManager s = m.newSubManager()) {
                        NDArray ids = s.create(Arrays.copyOfRange(data, 0, 16));
                        long start = System.nanoTime();
                        if (k == 0) {
                            try (AdapterScope none = peft.disableAdapters()) {
                                adapted.apply(ids).getFloat(0, 0, 0);
                            }
                        } else {
                            (k == 1 ? adapted : detached).apply(ids).getFloat(0, 0, 0);
                        }
                        if (r >= 0) {
                            t[k][r] = (System.nanoTime() - start) / 1e6;
                        }
                    }
                }
            }
        }
        return new double[] {median(t[0]), median(t[1]), detached == null ? 0 : median(t[2])};
    }

    private static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }

    private static void flush() {
        System.out.println();
        rows.forEach(System.out::println);
        System.out.println();
        rows.clear();
    }

    // ------------------------------------------------------------------ MiniLM + SST-2

    private static void cls(Path shared, int steps, double[] lrs, double[] shadowLrs)
            throws Exception {
        Path dir = shared.resolve("models/all-minilm-l6-v2");
        List<LabeledText> all =
                DataReaders.sample(
                        DataReaders.readLabeled(shared.resolve("data/sst2/train.tsv")), 2500, 42);
        List<LabeledText> trainSet = all.subList(0, 2000);
        List<LabeledText> valSet = all.subList(2000, 2500);
        List<LabeledText> devSet = DataReaders.readLabeled(shared.resolve("data/sst2/dev.tsv"));
        System.out.printf(
                Locale.ROOT,
                "%n== all-MiniLM-L6-v2 + SST-2: %d train, %d val (other train sentences), %d dev; %d steps x batch %d,"
                        + " max %d tokens, AdamW, warm-up 10%%, linear decay, seed 42; lrs LoRA %s, ShadowPEFT %s ==%n",
                trainSet.size(),
                valSet.size(),
                devSet.size(),
                steps,
                CLS_BATCH,
                CLS_MAX_LEN,
                Arrays.toString(lrs),
                Arrays.toString(shadowLrs));
        rows.add(
                "| method | lr (chosen on val) | trainable params | val acc | SST-2 dev acc (872) | train step (ms) | forward vs base (ms, 32 sentences) |");
        rows.add("|---|---|---:|---:|---:|---:|---:|");
        try (TextTokenizer tok =
                TextTokenizer.builder(dir.resolve("tokenizer.json"))
                        .maxLength(CLS_MAX_LEN)
                        .build()) {
            // LoRA with about ShadowPEFT's budget: all linear layers at r 32 (+ the head, trained
            // in full)
            ClsRun lora = null;
            for (double lr : lrs) {
                ClsRun r =
                        lmRunSafe(
                                () ->
                                        clsRun(
                                                "LoRA r=32 all-linear + head",
                                                dir,
                                                tok,
                                                trainSet,
                                                valSet,
                                                devSet,
                                                steps,
                                                lr,
                                                LoraConfig.builder()
                                                        .rank(32)
                                                        .alpha(64)
                                                        .targetRegex(
                                                                ".*layer\\.[0-9]+\\..*(query|key|value|dense)")
                                                        .modulesToSave(List.of("classifier"))
                                                        .build(),
                                                false));
                lora = r == null ? lora : lora == null || r.val > lora.val ? r : lora;
            }
            if (lora != null) {
                rows.add(lora.row());
            }
            ClsRun sh = null;
            for (double lr : shadowLrs) {
                // shadow.head=own (default, the reference: the shadow's own trained copy of the
                // head) | shared
                ShadowHead head = ShadowHead.parse(System.getProperty("shadow.head", "own"));
                ClsRun r =
                        lmRunSafe(
                                () ->
                                        clsRun(
                                                "ShadowPEFT (1 shadow layer, b=16, g=10) + head, shadow head "
                                                        + head.jsonName(),
                                                dir,
                                                tok,
                                                trainSet,
                                                valSet,
                                                devSet,
                                                steps,
                                                lr,
                                                ShadowConfig.builder().shadowHead(head).build(),
                                                true));
                sh = r == null ? sh : sh == null || r.val > sh.val ? r : sh;
            }
            rows.add(sh.row());
            rows.add(sh.detachedRow);
        }
        flush();
    }

    private static final class ClsRun {
        String label;
        double lr;
        long params;
        double val;
        double dev;
        double stepMs;
        String forward;
        String detachedRow;

        String row() {
            return String.format(
                    Locale.ROOT,
                    "| %s | %.0e | %,d | %.4f | %.4f | %.1f | %s |",
                    label,
                    lr,
                    params,
                    val,
                    dev,
                    stepMs,
                    forward);
        }
    }

    private static ClsRun clsRun(
            String label,
            Path dir,
            TextTokenizer tok,
            List<LabeledText> trainSet,
            List<LabeledText> valSet,
            List<LabeledText> devSet,
            int steps,
            double lr,
            AdapterConfig config,
            boolean shadowHeadInPlace) {
        Engine.getInstance().setRandomSeed(42); // the same fresh head in every run
        try (Model model = HfCheckpoint.loadForSequenceClassification(dir, 2, Device.cpu())) {
            Block block = model.getBlock();
            ClassificationTask trainTask = new ClassificationTask(block, tok, trainSet, 2);
            ClassificationTask valTask = new ClassificationTask(block, tok, valSet, 2);
            ClassificationTask devTask = new ClassificationTask(block, tok, devSet, 2);
            try (PeftModel peft = PeftModel.wrap(block, config)) {
                ShadowModel shadow = shadowHeadInPlace ? ShadowModel.of(peft) : null;
                long[] evalNanos = {0};
                TrainableModel trainable = peft;
                long headParams = 0;
                if (shadowHeadInPlace) {
                    // ShadowConfig has no modules_to_save: train the (fresh, per-run) head in place
                    // instead
                    Map<String, Parameter> params = new LinkedHashMap<>(peft.trainableParameters());
                    Block head =
                            block.getChildren().stream()
                                    .filter(c -> c.getKey().endsWith("classifier"))
                                    .findFirst()
                                    .orElseThrow()
                                    .getValue();
                    for (Pair<String, Parameter> p : head.getParameters()) {
                        p.getValue().freeze(false);
                        params.put("classifier." + p.getKey(), p.getValue());
                        headParams += p.getValue().getArray().size();
                    }
                    trainable = () -> params;
                }
                NDArray headBefore =
                        block.getChildren().stream()
                                .filter(c -> c.getKey().endsWith("classifier"))
                                .findFirst()
                                .orElseThrow()
                                .getValue()
                                .getParameters()
                                .get(0)
                                .getValue()
                                .getArray()
                                .duplicate();
                LossFunction loss =
                        shadow == null
                                ? trainTask
                                : (b, t) -> {
                                    NDList out = shadow.forwardWithShadow(b.subNDList(0, 3), t);
                                    return ClassificationTask.crossEntropy(out.get(0), b.get(3))
                                            .add(
                                                    io.peft4j.core.ops.Scalars.mul(
                                                            ClassificationTask.crossEntropy(
                                                                    out.get(1), b.get(3)),
                                                            shadow.config().shadowLossWeight()));
                                };
                TrainingResult tr =
                        FineTuner.builder()
                                .learningRate(lr)
                                .warmupSteps(steps / 10)
                                .maxSteps(steps)
                                .batchSize(CLS_BATCH)
                                .seed(42)
                                .progress(false)
                                .evaluation(
                                        Math.max(1, steps / 2),
                                        (step, mm, mgr) -> {
                                            long e0 = System.nanoTime();
                                            double acc = valTask.evaluate(64).accuracy();
                                            evalNanos[0] += System.nanoTime() - e0;
                                            return Map.of("val_acc", acc);
                                        })
                                .build()
                                .fit(trainable, loss, trainTask);
                ClsRun r = new ClsRun();
                r.label = label;
                r.lr = lr;
                r.params = peft.trainableSummary().trainable() + headParams;
                r.val = valTask.evaluate(64).accuracy();
                r.dev = devTask.evaluate(64).accuracy();
                r.stepMs = (1000 * tr.seconds() - evalNanos[0] / 1e6) / tr.steps();
                System.out.printf(
                        Locale.ROOT,
                        "  base head weight moved by %.4f (in place; LoRA trains a copy)%n",
                        block.getChildren().stream()
                                .filter(c -> c.getKey().endsWith("classifier"))
                                .findFirst()
                                .orElseThrow()
                                .getValue()
                                .getParameters()
                                .get(0)
                                .getValue()
                                .getArray()
                                .sub(headBefore)
                                .norm()
                                .getFloat());
                NDList probe =
                        devTask.batch(
                                model.getNDManager(),
                                java.util.stream.IntStream.range(0, 32).toArray());
                double[] t = alternateCls(peft, devTask, probe, shadow);
                r.forward =
                        String.format(Locale.ROOT, "%.1f vs %.1f (%.2fx)", t[1], t[0], t[1] / t[0]);
                System.out.printf(
                        Locale.ROOT,
                        "%s lr %.0e: val %.4f dev %.4f, %.1f ms/step, forward %s; %s%n",
                        label,
                        lr,
                        r.val,
                        r.dev,
                        r.stepMs,
                        r.forward,
                        curve(tr));
                if (shadow != null) {
                    DetachedShadow d = shadow.detached();
                    double dv = detachedAccuracy(d, valTask);
                    double dd = detachedAccuracy(d, devTask);
                    System.out.printf(
                            Locale.ROOT,
                            "  its detached shadow: val %.4f dev %.4f, forward %.1f ms%n",
                            dv,
                            dd,
                            t[2]);
                    r.detachedRow =
                            String.format(
                                    Locale.ROOT,
                                    "| ... its detached shadow (+ head, no base layer) | | (%,d of them) | %.4f | %.4f | - | %.1f vs %.1f (%.2fx) |",
                                    shadow.shadowParameterCount(),
                                    dv,
                                    dd,
                                    t[2],
                                    t[0],
                                    t[2] / t[0]);
                }
                probe.close();
                return r;
            }
        }
    }

    private static double detachedAccuracy(DetachedShadow d, ClassificationTask task) {
        int correct = 0;
        int[] labels = task.labels();
        try (NoGrad off = NoGrad.enter();
                NDManager m = NDManager.newBaseManager()) {
            for (int start = 0; start < task.size(); start += 64) {
                int[] idx =
                        java.util.stream.IntStream.range(start, Math.min(task.size(), start + 64))
                                .toArray();
                try (NDManager s = m.newSubManager()) {
                    NDList b = task.batch(s, idx);
                    NDArray pred = d.logits(b.get(0), b.get(1), false).argMax(-1);
                    for (int i = 0; i < idx.length; i++) {
                        correct += pred.getLong(i) == labels[idx[i]] ? 1 : 0;
                    }
                }
            }
        }
        return correct / (double) task.size();
    }

    private static double[] alternateCls(
            PeftModel peft, ClassificationTask task, NDList probe, ShadowModel shadow) {
        Supplier<DetachedShadow> d = shadow == null ? null : shadow::detached;
        int rounds = 11;
        double[][] t = new double[3][rounds];
        try (NoGrad off = NoGrad.enter()) {
            for (int r = -2; r < rounds; r++) {
                for (int k = 0; k < 3; k++) {
                    if (k == 2 && d == null) {
                        continue;
                    }
                    long start = System.nanoTime();
                    NDArray out;
                    if (k == 0) {
                        try (AdapterScope none = peft.disableAdapters()) {
                            out = task.logits(probe, false);
                        }
                    } else if (k == 1) {
                        out = task.logits(probe, false);
                    } else {
                        out = d.get().logits(probe.get(0), probe.get(1), false);
                    }
                    out.getFloat(0, 0);
                    if (r >= 0) {
                        t[k][r] = (System.nanoTime() - start) / 1e6;
                    }
                    out.close();
                }
            }
        }
        return new double[] {median(t[0]), median(t[1]), d == null ? 0 : median(t[2])};
    }
}
