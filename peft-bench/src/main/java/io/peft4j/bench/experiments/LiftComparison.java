package io.peft4j.bench.experiments;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import io.peft4j.core.PeftModel;
import io.peft4j.core.train.AdamW;
import io.peft4j.core.train.Evaluation;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.ForwardingOptimizer;
import io.peft4j.core.train.LossFunction;
import io.peft4j.core.train.PeftOptimizer;
import io.peft4j.core.train.TrainableModel;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import io.peft4j.lift.LiftAdapter;
import io.peft4j.lift.LiftConfig;
import io.peft4j.lift.LiftOptimizer;
import io.peft4j.lora.LoraConfig;
import io.peft4j.models.BertForSequenceClassification;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.LlamaForCausalLM;
import io.peft4j.models.TextTokenizer;
import io.peft4j.tasks.ClassificationTask;
import io.peft4j.tasks.DataReaders;
import io.peft4j.tasks.LabeledText;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * The miniature LIFT comparison: stories260K (a 260K-parameter TinyStories LLaMA) fine-tuned on
 * tinyshakespeare, held-out next-token NLL, with the same steps, batches, schedule and seed for
 * every method: full fine-tuning (AdamW), LoRA at rank r on all linear layers, LIFT at the same
 * budget (rank-R filtered mask), LIFT without rank reduction (plain magnitude mask). Prints a
 * Markdown table. Not a test: run it with
 *
 * <pre>
 * mvn -o -q -B -pl peft-bench -am install -DskipTests
 * mvn -o -q -B -pl peft-bench exec:java -Dbench.main=io.peft4j.bench.experiments.LiftComparison
 * </pre>
 *
 * Also all-MiniLM-L6-v2 + SST-2 dev accuracy ({@code -Dlift.task=sst2}; the new classifier head is
 * trained in full with AdamW by every PEFT run). Results: peft-lift/README.md.
 *
 * <p>System properties: {@code lift.task} (stories|sst2), {@code lift.steps} (300 | 100), {@code
 * lift.r} (4), {@code lift.R} (8), {@code lift.T} (100 | 40), {@code lift.batch} (8 | 16), {@code
 * lift.warmup} (steps/10), {@code lift.evalEvery} (steps/3), {@code lift.train} (SST-2 subset,
 * 2000), learning rates as comma lists (one run each): {@code lift.lr.full} (1e-3), {@code
 * lift.lr.lora} (3e-3), {@code lift.lr.lift} (3e-3), {@code lift.lr.magnitude} (= lift.lr.lift),
 * {@code lift.lr.smallest} (= lift.lr.lift); {@code lift.methods} (full,lora,lift,magnitude; {@code
 * smallest} adds LIFT with the released configs' smallest-entry mask); {@code lift.clip} (1.0,
 * global-norm clip of the full and LoRA runs) and {@code lift.clip.lift} (0, LIFT's runs: the
 * reference does not clip).
 */
public final class LiftComparison {

    private static final int SEQ = 128;
    private static final int BATCH = 8;
    private static final long SEED = 42;

    /**
     * all-MiniLM-L6-v2, a sentence-transformers BertModel: the pooler and the 2-class classifier
     * are new.
     */
    private static final String MINILM = "models/all-minilm-l6-v2";

    private LiftComparison() {}

    record Row(
            String method,
            double lr,
            long trainable,
            long stateBytes,
            double before,
            double after,
            String curve,
            double msPerStep,
            String note) {}

    public static void main(String[] args) throws Exception {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        Path shared = Path.of(System.getProperty("peft4j.shared", "../shared"));
        boolean sst2 = System.getProperty("lift.task", "stories").equals("sst2");
        Path modelDir = shared.resolve("models/stories260K");
        Path text = shared.resolve("data/tinyshakespeare/input.txt");
        int steps = Integer.getInteger("lift.steps", sst2 ? 100 : 300);
        int r = Integer.getInteger("lift.r", 4);
        int bigR = Integer.getInteger("lift.R", 8);
        int interval = Integer.getInteger("lift.T", sst2 ? 40 : 100);
        int batchSize = Integer.getInteger("lift.batch", sst2 ? 16 : BATCH);
        int warmup = Integer.getInteger("lift.warmup", Math.max(1, steps / 10));
        List<Double> lrFull = lrs(System.getProperty("lift.lr.full", "1e-3"));
        List<Double> lrLora = lrs(System.getProperty("lift.lr.lora", "3e-3"));
        List<Double> lrLift = lrs(System.getProperty("lift.lr.lift", "3e-3"));
        List<Double> lrMagnitude =
                lrs(
                        System.getProperty(
                                "lift.lr.magnitude", System.getProperty("lift.lr.lift", "3e-3")));
        List<Double> lrSmallest =
                lrs(
                        System.getProperty(
                                "lift.lr.smallest", System.getProperty("lift.lr.lift", "3e-3")));
        double clip = Double.parseDouble(System.getProperty("lift.clip", "1.0"));
        double clipLift = Double.parseDouble(System.getProperty("lift.clip.lift", "0"));

        Task task;
        if (sst2) {
            Path miniLm = shared.resolve(MINILM);
            List<LabeledText> train =
                    DataReaders.sample(
                            DataReaders.readLabeled(shared.resolve("data/sst2/train.tsv")),
                            Integer.getInteger("lift.train", 2000),
                            1234);
            List<LabeledText> dev = DataReaders.readLabeled(shared.resolve("data/sst2/dev.tsv"));
            // open until the JVM exits: every run tokenizes the sets for the model it loads
            TextTokenizer tok =
                    TextTokenizer.builder(miniLm.resolve("tokenizer.json")).maxLength(64).build();
            System.out.printf(
                    Locale.ROOT,
                    "MiniLM-L6 + SST-2: %d train sentences (seeded subset), %d dev; metric dev accuracy%n",
                    train.size(),
                    dev.size());
            task =
                    new Task(
                            "dev accuracy",
                            () -> {
                                Engine.getInstance()
                                        .setRandomSeed(
                                                (int) SEED); // the same fresh pooler and head in
                                // every run
                                return HfCheckpoint.loadForSequenceClassification(
                                        miniLm, 2, Device.cpu());
                            },
                            block -> {
                                ClassificationTask trainTask =
                                        new ClassificationTask(block, tok, train, 2);
                                ClassificationTask devTask =
                                        new ClassificationTask(block, tok, dev, 2);
                                return new Bound(
                                        trainTask,
                                        trainTask,
                                        root -> devTask.evaluate(64).accuracy());
                            });
        } else {
            String all = Files.readString(text, StandardCharsets.UTF_8);
            long[] train;
            long[] heldOut;
            try (TextTokenizer tok =
                    TextTokenizer.builder(modelDir.resolve("tokenizer.json"))
                            .addSpecialTokens(false)
                            .build()) {
                train = encode(tok, all.substring(0, 400_000));
                heldOut = encode(tok, all.substring(1_000_000, 1_040_000));
            }
            int trainWindows = (train.length - 1) / (SEQ + 1);
            int evalWindows = (heldOut.length - 1) / (SEQ + 1);
            System.out.printf(
                    Locale.ROOT,
                    "stories260K on tinyshakespeare: %d train tokens (%d windows of %d), %d held-out tokens (%d windows)%n",
                    train.length,
                    trainWindows,
                    SEQ,
                    heldOut.length,
                    evalWindows);
            task =
                    new Task(
                            "held-out NLL",
                            () -> HfCheckpoint.load(modelDir, Device.cpu()),
                            lm ->
                                    new Bound(
                                            windows(train),
                                            (batch, training) -> loss(lm, batch.head(), training),
                                            root -> nll(lm, heldOut, root)));
        }
        System.out.printf(
                Locale.ROOT,
                "steps %d, batch %d, warm-up %d, seed %d, r %d, R %d, T %d, lr full %s lora %s lift %s magnitude %s smallest %s,"
                        + " clip %s (LIFT %s)%n",
                steps,
                batchSize,
                warmup,
                SEED,
                r,
                bigR,
                interval,
                lrFull,
                lrLora,
                lrLift,
                lrMagnitude,
                lrSmallest,
                clip,
                clipLift);

        List<String> methods =
                List.of(System.getProperty("lift.methods", "full,lora,lift,magnitude").split(","));
        List<Row> rows = new ArrayList<>();
        Supplier<PeftOptimizer> adamW = () -> AdamW.builder().betas(0.9, 0.95).eps(1e-6).build();
        for (double lr : methods.contains("full") ? lrFull : List.<Double>of()) {
            rows.add(
                    run(
                            "full fine-tuning (AdamW)",
                            task,
                            steps,
                            batchSize,
                            warmup,
                            lr,
                            block -> new Setup(full(block), adamW, null, clip)));
        }
        for (double lr : methods.contains("lora") ? lrLora : List.<Double>of()) {
            rows.add(
                    run(
                            "LoRA r=" + r + " all-linear (alpha " + 2 * r + ")",
                            task,
                            steps,
                            batchSize,
                            warmup,
                            lr,
                            block -> {
                                PeftModel peft =
                                        PeftModel.wrap(
                                                block,
                                                LoraConfig.builder()
                                                        .rank(r)
                                                        .alpha(2 * r)
                                                        .allLinear()
                                                        .build());
                                return new Setup(withHead(peft, block, sst2), adamW, peft, clip);
                            }));
        }
        for (double lr : methods.contains("lift") ? lrLift : List.<Double>of()) {
            rows.add(
                    run(
                            "LIFT r=" + r + " R=" + bigR + " T=" + interval,
                            task,
                            steps,
                            batchSize,
                            warmup,
                            lr,
                            block -> {
                                PeftModel peft =
                                        PeftModel.wrap(
                                                block,
                                                LiftConfig.builder()
                                                        .rank(r)
                                                        .filterRank(bigR)
                                                        .updateInterval(interval)
                                                        .build());
                                return new Setup(
                                        withHead(peft, block, sst2),
                                        () -> new Split(LiftOptimizer.forModel(peft), adamW.get()),
                                        peft,
                                        clipLift);
                            }));
        }
        for (double lr : methods.contains("magnitude") ? lrMagnitude : List.<Double>of()) {
            rows.add(
                    run(
                            "LIFT r=" + r + " plain magnitude (R=0) T=" + interval,
                            task,
                            steps,
                            batchSize,
                            warmup,
                            lr,
                            block -> {
                                PeftModel peft =
                                        PeftModel.wrap(
                                                block,
                                                LiftConfig.builder()
                                                        .rank(r)
                                                        .filterRank(0)
                                                        .updateInterval(interval)
                                                        .build());
                                return new Setup(
                                        withHead(peft, block, sst2),
                                        () -> new Split(LiftOptimizer.forModel(peft), adamW.get()),
                                        peft,
                                        clipLift);
                            }));
        }

        for (double lr : methods.contains("smallest") ? lrSmallest : List.<Double>of()) {
            rows.add(
                    run(
                            "LIFT r="
                                    + r
                                    + " R="
                                    + bigR
                                    + " T="
                                    + interval
                                    + " smallest (released configs)",
                            task,
                            steps,
                            batchSize,
                            warmup,
                            lr,
                            block -> {
                                PeftModel peft =
                                        PeftModel.wrap(
                                                block,
                                                LiftConfig.builder()
                                                        .rank(r)
                                                        .filterRank(bigR)
                                                        .updateInterval(interval)
                                                        .maskSelection(
                                                                io.peft4j.lift.MaskSelection
                                                                        .SMALLEST)
                                                        .build());
                                return new Setup(
                                        withHead(peft, block, sst2),
                                        () -> new Split(LiftOptimizer.forModel(peft), adamW.get()),
                                        peft,
                                        clipLift);
                            }));
        }

        System.out.println();
        System.out.println(
                "| method | lr | trainable entries | optimiser state (bytes) | "
                        + task.metric()
                        + " before | after | curve | ms/step | note |");
        System.out.println("|---|---:|---:|---:|---:|---:|---|---:|---|");
        for (Row row : rows) {
            System.out.printf(
                    Locale.ROOT,
                    "| %s | %.0e | %,d | %,d | %.4f | %.4f | %s | %.1f | %s |%n",
                    row.method(),
                    row.lr(),
                    row.trainable(),
                    row.stateBytes(),
                    row.before(),
                    row.after(),
                    row.curve(),
                    row.msPerStep(),
                    row.note());
        }
    }

    /** A data set, its loss and the metric, for the model of one run. */
    record Bound(TrainingData train, LossFunction loss, ToDoubleFunction<NDManager> eval) {}

    record Task(String metric, Supplier<Model> loader, Function<Block, Bound> bind) {}

    private static List<Double> lrs(String csv) {
        List<Double> out = new ArrayList<>();
        for (String s : csv.split(",")) {
            out.add(Double.parseDouble(s));
        }
        return out;
    }

    /** What a method trains, with which optimiser; {@code peft} is closed after the run. */
    record Setup(
            TrainableModel model,
            Supplier<PeftOptimizer> optimizer,
            PeftModel peft,
            double maxGradNorm) {}

    /**
     * Every parameter once (stories260K's lm_head is tied to embed_tokens: trained through the
     * embedding).
     */
    private static TrainableModel full(Block block) {
        Map<String, Parameter> params = new LinkedHashMap<>();
        Map<String, Parameter> named =
                block instanceof LlamaForCausalLM
                        ? ((LlamaForCausalLM) block).namedParameters()
                        : ((BertForSequenceClassification) block).namedParameters();
        named.forEach(
                (name, p) -> {
                    if (!name.equals("lm_head.weight")) {
                        p.freeze(false);
                        params.put(name, p);
                    }
                });
        return () -> params;
    }

    /**
     * The adapter's parameters, plus (SST-2) the new classifier head trained in full under "head."
     * keys.
     */
    private static TrainableModel withHead(PeftModel peft, Block block, boolean sst2) {
        if (!sst2) {
            return peft;
        }
        Map<String, Parameter> params = new LinkedHashMap<>(peft.trainableParameters());
        ClassificationTask.unfreezeHead((BertForSequenceClassification) block)
                .forEach((name, p) -> params.put("head." + name, p));
        return () -> params;
    }

    private static Row run(
            String name,
            Task task,
            int steps,
            int batchSize,
            int warmup,
            double lr,
            Function<Block, Setup> setupFn) {
        Engine.getInstance().setRandomSeed((int) SEED);
        try (Model model = task.loader().get()) {
            Block block = model.getBlock();
            NDManager root = model.getNDManager();
            Bound bound = task.bind().apply(block);
            double before = bound.eval().applyAsDouble(root);
            Setup setup = setupFn.apply(block);
            long trainable = 0;
            for (Parameter p : setup.model().trainableParameters().values()) {
                trainable += p.getArray().size();
            }
            long[] stateBytes = new long[1];
            String[] note = {""};
            Supplier<PeftOptimizer> recording =
                    () -> new Recording(setup.optimizer().get(), stateBytes, note);
            int evalEvery = Integer.getInteger("lift.evalEvery", Math.max(1, steps / 3));
            TrainingResult result =
                    FineTuner.builder()
                            .learningRate(lr)
                            .warmupSteps(warmup)
                            .maxSteps(steps)
                            .batchSize(batchSize)
                            .seed(SEED)
                            .progress(false)
                            .optimizer(recording)
                            .maxGradNorm(setup.maxGradNorm())
                            .evaluation(
                                    evalEvery,
                                    (step, m, mgr) ->
                                            Map.of("eval", bound.eval().applyAsDouble(mgr)))
                            .build()
                            .fit(setup.model(), bound.loss(), bound.train());
            List<Evaluation> evals = result.evaluations();
            double after =
                    !evals.isEmpty() && evals.get(evals.size() - 1).step() == steps
                            ? evals.get(evals.size() - 1).metrics().get("eval")
                            : bound.eval().applyAsDouble(root);
            StringBuilder curve = new StringBuilder();
            for (Evaluation e : evals) {
                curve.append(
                        String.format(
                                Locale.ROOT,
                                "%s%d: %.4f",
                                curve.length() == 0 ? "" : ", ",
                                e.step(),
                                e.metrics().get("eval")));
            }
            double ms = 1000.0 * result.seconds() / result.steps();
            if (setup.peft() != null) {
                if (setup.peft().adapter("default") instanceof LiftAdapter) {
                    note[0] +=
                            String.format(
                                    Locale.ROOT,
                                    "; %d mask refreshes",
                                    ((LiftAdapter) setup.peft().adapter("default")).refreshes());
                }
                setup.peft().close();
            }
            System.out.printf(
                    Locale.ROOT,
                    "%-45s lr %.0e trainable %,9d  state %,11d B  %s %.4f -> %.4f  %.1f ms/step  curve %s  train loss %.4f -> %.4f %s%n",
                    name,
                    lr,
                    trainable,
                    stateBytes[0],
                    task.metric(),
                    before,
                    after,
                    ms,
                    curve,
                    result.losses().get(0),
                    result.finalLoss(),
                    note[0]);
            return new Row(
                    name,
                    lr,
                    trainable,
                    stateBytes[0],
                    before,
                    after,
                    curve.toString(),
                    ms,
                    note[0]);
        }
    }

    /** Mean next-token NLL of a (B, SEQ + 1) batch of ids. */
    private static NDArray loss(Block lm, NDArray ids, boolean training) {
        NDArray input = ids.get(":, :-1");
        NDArray target = ids.get(":, 1:");
        NDArray logits =
                lm.forward(new ParameterStore(ids.getManager(), false), new NDList(input), training)
                        .head();
        NDArray logp = logits.logSoftmax(-1);
        return logp.gather(target.expandDims(-1), -1).neg().mean();
    }

    private static double nll(Block lm, long[] tokens, NDManager root) {
        int windows = (tokens.length - 1) / (SEQ + 1);
        double sum = 0;
        int batches = 0;
        for (int start = 0; start < windows; start += 16) {
            int n = Math.min(16, windows - start);
            try (NDManager m = root.newSubManager()) {
                long[] flat = new long[n * (SEQ + 1)];
                for (int i = 0; i < n; i++) {
                    System.arraycopy(tokens, (start + i) * (SEQ + 1), flat, i * (SEQ + 1), SEQ + 1);
                }
                NDArray ids = m.create(flat, new Shape(n, SEQ + 1));
                sum += loss(lm, ids, false).getFloat() * n;
                batches += n;
            }
        }
        return sum / batches;
    }

    private static TrainingData windows(long[] tokens) {
        int count = (tokens.length - 1) / (SEQ + 1);
        return new TrainingData() {
            @Override
            public int size() {
                return count;
            }

            @Override
            public NDList batch(NDManager manager, int[] indices) {
                long[] flat = new long[indices.length * (SEQ + 1)];
                for (int i = 0; i < indices.length; i++) {
                    System.arraycopy(tokens, indices[i] * (SEQ + 1), flat, i * (SEQ + 1), SEQ + 1);
                }
                return new NDList(manager.create(flat, new Shape(indices.length, SEQ + 1)));
            }
        };
    }

    private static long[] encode(TextTokenizer tok, String text) {
        List<long[]> parts = new ArrayList<>();
        int total = 0;
        for (String para : text.split("\n\n")) {
            long[] ids = tok.encode(para + "\n\n");
            parts.add(ids);
            total += ids.length;
        }
        long[] out = new long[total];
        int at = 0;
        for (long[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    /**
     * LIFT's sparse Adam for the adapter, AdamW for the "head." parameters (SST-2's classifier).
     */
    private record Split(PeftOptimizer lift, PeftOptimizer head) implements PeftOptimizer {

        @Override
        public void step(Map<String, Parameter> params, float learningRate) {
            Map<String, Parameter> a = new LinkedHashMap<>();
            Map<String, Parameter> b = new LinkedHashMap<>();
            params.forEach((k, p) -> (k.startsWith("head.") ? b : a).put(k, p));
            lift.step(a, learningRate);
            if (!b.isEmpty()) {
                head.step(b, learningRate);
            }
        }

        @Override
        public Map<String, NDArray> state() {
            Map<String, NDArray> out = new LinkedHashMap<>(lift.state());
            out.putAll(head.state());
            return out;
        }

        @Override
        public void loadState(Map<String, NDArray> state) {
            throw new UnsupportedOperationException("not needed by the experiment");
        }

        @Override
        public long stateBytes() {
            return lift.stateBytes() + head.stateBytes();
        }

        long liftDenseBytes() {
            return ((LiftOptimizer) lift).denseAdamStateBytes();
        }

        @Override
        public void close() {
            lift.close();
            head.close();
        }
    }

    /** Delegates and records the state size after every step (the trainer closes the optimiser). */
    private static final class Recording extends ForwardingOptimizer {
        private final long[] bytes;
        private final String[] note;

        Recording(PeftOptimizer inner, long[] bytes, String[] note) {
            super(inner);
            this.bytes = bytes;
            this.note = note;
        }

        @Override
        public void step(Map<String, Parameter> params, float learningRate) {
            inner.step(params, learningRate);
            bytes[0] = inner.stateBytes();
            if (inner instanceof Split) {
                note[0] =
                        String.format(
                                Locale.ROOT,
                                "dense Adam on the same matrices: %,d B",
                                ((Split) inner).liftDenseBytes());
            }
        }
    }
}
