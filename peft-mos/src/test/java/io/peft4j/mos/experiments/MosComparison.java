package io.peft4j.mos.experiments;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import com.google.common.base.Splitter;
import io.peft4j.core.PeftModel;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.train.EvalCallback;
import io.peft4j.core.train.Evaluation;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.NonFiniteLossException;
import io.peft4j.core.train.TrainableModel;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import io.peft4j.lora.LoraConfig;
import io.peft4j.models.BertForSequenceClassification;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.TextTokenizer;
import io.peft4j.mos.MosConfig;
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

/**
 * The miniature claim: at an equal trainable budget {@code v}, does MoS (rank r = 2v..4v from
 * shared pools) beat LoRA of rank v, and how close does it get to LoRA of rank 8v? Two tasks:
 * stories260K (LLaMA, 5 layers, hidden 64) fine-tuned on tinyshakespeare, held-out next-token NLL
 * ({@code task=stories}, the default), and all-MiniLM-L6-v2 + SST-2 dev accuracy ({@code
 * task=sst2}; the new classifier head is trained in full by every run). Fixed seeds; every run sees
 * the same batches in the same order. Results: peft-mos/README.md.
 *
 * <pre>
 * mvn -o -q -B -pl peft-mos -am test-compile exec:java -Dexec.classpathScope=test \
 *     -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 \
 *     -Dexec.mainClass=io.peft4j.mos.experiments.MosComparison -Dexec.args="steps=400 evalEvery=100"
 * </pre>
 *
 * Options ({@code key=value} in exec.args): task (stories|sst2), steps (400 | 250), v (4), lr (2e-3
 * | 1e-3), lrMos (= lr), alpha (16), alphaPerRank (0: off; k: alpha = k r), batch (8 | 16), seq
 * (128), trainChars (1000000), train (SST-2 subset, 2000), evalEvery (steps/4), seeds (0), runs
 * (lora1,mos2,mos3,mos4,lora8: LoRA/MoS at rank k v).
 */
public final class MosComparison {

    private static final String[] TARGETS = {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"
    };

    /**
     * all-MiniLM-L6-v2, a sentence-transformers BertModel: the pooler and the 2-class classifier
     * are new.
     */
    private static final String MINILM = "models/all-minilm-l6-v2";

    private MosComparison() {}

    record Run(String label, AdapterConfig config, double lr) {}

    public static void main(String[] args) throws Exception {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        Map<String, String> opts = new LinkedHashMap<>();
        for (String a : args) {
            String[] kv = a.split("=", 2);
            opts.put(kv[0], kv.length > 1 ? kv[1] : "true");
        }
        boolean sst2 = opts.getOrDefault("task", "stories").equals("sst2");
        int steps = Integer.parseInt(opts.getOrDefault("steps", sst2 ? "250" : "400"));
        int v = Integer.parseInt(opts.getOrDefault("v", "4"));
        double lr = Double.parseDouble(opts.getOrDefault("lr", sst2 ? "1e-3" : "2e-3"));
        double lrMos = Double.parseDouble(opts.getOrDefault("lrMos", String.valueOf(lr)));
        int batch = Integer.parseInt(opts.getOrDefault("batch", sst2 ? "16" : "8"));
        int seqLen = Integer.parseInt(opts.getOrDefault("seq", "128"));
        float alpha = Float.parseFloat(opts.getOrDefault("alpha", "16"));
        // alphaPerRank=k: alpha = k r for every run, so the scale alpha / r is k for every rank
        float alphaPerRank = Float.parseFloat(opts.getOrDefault("alphaPerRank", "0"));
        int trainLimit = Integer.parseInt(opts.getOrDefault("train", "2000"));
        // stories: the first trainChars characters of tinyshakespeare (the held-out part is the
        // last 12,000)
        int trainChars = Integer.parseInt(opts.getOrDefault("trainChars", "1000000"));
        int evalEvery =
                Integer.parseInt(
                        opts.getOrDefault("evalEvery", String.valueOf(Math.max(1, steps / 4))));
        List<String> which =
                List.of(opts.getOrDefault("runs", "lora1,mos2,mos3,mos4,lora8").split(","));
        String[] targets = sst2 ? new String[] {"query", "value"} : TARGETS;
        int layers = sst2 ? 6 : 5;
        List<Long> seeds = new ArrayList<>();
        for (String s : Splitter.on(',').split(opts.getOrDefault("seeds", "0"))) {
            seeds.add(Long.parseLong(s));
        }
        Path shared = shared();
        Path modelDir = shared.resolve("models/stories260K");
        long[] train = null;
        long[] heldOut = null;
        List<LabeledText> sstTrain = null;
        List<LabeledText> sstDev = null;
        // open until the JVM exits: every run tokenizes the sets for the model it loads
        TextTokenizer sstTok = null;
        if (sst2) {
            sstTrain =
                    DataReaders.sample(
                            DataReaders.readLabeled(shared.resolve("data/sst2/train.tsv")),
                            trainLimit,
                            1234);
            sstDev = DataReaders.readLabeled(shared.resolve("data/sst2/dev.tsv"));
            sstTok =
                    TextTokenizer.builder(shared.resolve(MINILM).resolve("tokenizer.json"))
                            .maxLength(64)
                            .build();
            System.out.printf(
                    Locale.ROOT,
                    "MiniLM-L6 + SST-2: %d train sentences (seeded subset), %d dev; %d steps x batch %d,"
                            + " lr LoRA %.0e MoS %.0e, alpha %s, dropout 0, targets query,value (+ classifier head trained in full), v = %d, seeds %s%n",
                    sstTrain.size(),
                    sstDev.size(),
                    steps,
                    batch,
                    lr,
                    lrMos,
                    alphaPerRank > 0 ? alphaPerRank + " r" : String.valueOf(alpha),
                    v,
                    seeds);
        } else {
            String text =
                    Files.readString(
                            shared.resolve("data/tinyshakespeare/input.txt"),
                            StandardCharsets.UTF_8);
            try (TextTokenizer tok =
                    TextTokenizer.builder(modelDir).addSpecialTokens(false).build()) {
                train = tok.encode(text.substring(0, trainChars));
                heldOut = tok.encode(text.substring(text.length() - 12_000));
            }
            System.out.printf(
                    Locale.ROOT,
                    "stories260K + tinyshakespeare: %d train tokens (first %d chars), %d held-out tokens (last 12000 chars); %d steps x batch %d x %d tokens,"
                            + " lr LoRA %.0e MoS %.0e, alpha %s, dropout 0, targets all 7 projections, v = %d, seeds %s%n",
                    train.length,
                    trainChars,
                    heldOut.length,
                    steps,
                    batch,
                    seqLen,
                    lr,
                    lrMos,
                    alphaPerRank > 0 ? alphaPerRank + " r" : String.valueOf(alpha),
                    v,
                    seeds);
        }

        List<Run> runs = new ArrayList<>();
        for (String w : which) {
            int k = Integer.parseInt(w.replaceAll("[^0-9]", ""));
            int r = k * v;
            float a = alphaPerRank > 0 ? alphaPerRank * r : alpha;
            if (w.startsWith("lora")) {
                runs.add(
                        new Run(
                                "LoRA r="
                                        + r
                                        + (k == 1 ? " (= v)" : " (= " + k + "v)")
                                        + " alpha "
                                        + fmt(a),
                                lora(r, a, targets),
                                lr));
            } else if (r - 1 <= (v - 1) * layers) {
                runs.add(
                        new Run(
                                "MoS v=" + v + " r=" + r + " l=2 p=1 alpha " + fmt(a),
                                mos(v, r, 2, 1, a, targets),
                                lrMos));
            } else {
                System.out.printf(
                        Locale.ROOT,
                        "skipping MoS r=%d: needs r - p <= (v - p) L = %d%n",
                        r,
                        (v - 1) * layers);
            }
        }

        double base;
        if (sst2) {
            try (Model model = miniLm(shared, seeds.get(0))) {
                base =
                        new ClassificationTask(model.getBlock(), sstTok, sstDev, 2)
                                .evaluate(64)
                                .accuracy();
            }
            System.out.printf(
                    Locale.ROOT, "base model (new head, no training): dev accuracy %.4f%n", base);
        } else {
            try (Model model = HfCheckpoint.load(modelDir, Device.cpu())) {
                base = heldOutNll(model.getBlock(), model.getNDManager(), heldOut, seqLen);
            }
            System.out.printf(Locale.ROOT, "base model (no adapter): held-out NLL %.4f%n", base);
        }
        List<String> rows = new ArrayList<>();
        for (Run run : runs) {
            double resultSum = 0;
            double msSum = 0;
            long trainable = 0;
            StringBuilder perSeed = new StringBuilder();
            StringBuilder curve = new StringBuilder();
            for (long seed : seeds) {
                try (Model model =
                        sst2 ? miniLm(shared, seed) : HfCheckpoint.load(modelDir, Device.cpu())) {
                    AdapterConfig config = withSeed(run.config(), seed);
                    try (PeftModel peft = PeftModel.wrap(model.getBlock(), config)) {
                        Block block = model.getBlock();
                        Map<String, Parameter> params =
                                new LinkedHashMap<>(peft.trainableParameters());
                        ClassificationTask sstTrainTask = null;
                        ClassificationTask sstDevTask = null;
                        if (sst2) {
                            params.putAll(
                                    ClassificationTask.unfreezeHead(
                                            (BertForSequenceClassification) block));
                            sstTrainTask = new ClassificationTask(block, sstTok, sstTrain, 2);
                            sstDevTask = new ClassificationTask(block, sstTok, sstDev, 2);
                        }
                        TrainableModel trainableModel = () -> params;
                        trainable = 0;
                        for (Parameter p : params.values()) {
                            trainable += p.getArray().size();
                        }
                        TrainingData data = sst2 ? sstTrainTask : windows(train, seqLen);
                        final ClassificationTask dev = sstDevTask;
                        final ClassificationTask trainTask = sstTrainTask;
                        final long[] held = heldOut;
                        EvalCallback eval =
                                (step, m, mgr) ->
                                        Map.of(
                                                "eval",
                                                dev != null
                                                        ? dev.evaluate(64).accuracy()
                                                        : heldOutNll(block, mgr, held, seqLen));
                        TrainingResult result;
                        try {
                            result =
                                    FineTuner.builder()
                                            .learningRate(run.lr())
                                            .warmupSteps(steps / 10)
                                            .maxSteps(steps)
                                            .batchSize(batch)
                                            .seed(seed)
                                            .progress(false)
                                            .evaluation(evalEvery, eval)
                                            .build()
                                            .fit(
                                                    trainableModel,
                                                    (b, training) ->
                                                            sst2
                                                                    ? trainTask.loss(b, training)
                                                                    : nextTokenNll(
                                                                            block, b.head(),
                                                                            training),
                                                    data);
                        } catch (NonFiniteLossException e) {
                            System.out.printf(
                                    Locale.ROOT,
                                    "%-36s seed %d: stopped, %s%n",
                                    run.label(),
                                    seed,
                                    e.getMessage());
                            perSeed.append(" diverged");
                            resultSum = Double.NaN;
                            continue;
                        }
                        double value =
                                result.evaluations().isEmpty()
                                                || result.evaluations()
                                                                .get(
                                                                        result.evaluations().size()
                                                                                - 1)
                                                                .step()
                                                        != steps
                                        ? (sst2
                                                ? sstDevTask.evaluate(64).accuracy()
                                                : heldOutNll(
                                                        block,
                                                        model.getNDManager(),
                                                        heldOut,
                                                        seqLen))
                                        : result.evaluations()
                                                .get(result.evaluations().size() - 1)
                                                .metrics()
                                                .get("eval");
                        double ms = 1000 * result.seconds() / result.steps();
                        resultSum += value;
                        msSum += ms;
                        perSeed.append(String.format(Locale.ROOT, " %.4f", value));
                        curve.setLength(0);
                        for (Evaluation e : result.evaluations()) {
                            curve.append(
                                    String.format(
                                            Locale.ROOT,
                                            "%s%d: %.4f",
                                            curve.length() == 0 ? "" : ", ",
                                            e.step(),
                                            e.metrics().get("eval")));
                        }
                        System.out.printf(
                                Locale.ROOT,
                                "%-36s lr %.0e seed %d: trainable %,d, train loss %.4f -> %.4f, %s %.4f, %.1f ms/step; curve %s%n",
                                run.label(),
                                run.lr(),
                                seed,
                                trainable,
                                mean(result.losses(), 0, 10),
                                mean(
                                        result.losses(),
                                        result.losses().size() - 10,
                                        result.losses().size()),
                                sst2 ? "dev accuracy" : "held-out NLL",
                                value,
                                ms,
                                curve);
                    }
                }
            }
            rows.add(
                    String.format(
                            Locale.ROOT,
                            "| %s | %.0e | %,d | %.4f |%s | %s | %.1f |",
                            run.label(),
                            run.lr(),
                            trainable,
                            resultSum / seeds.size(),
                            perSeed,
                            curve,
                            msSum / seeds.size()));
        }
        System.out.println();
        System.out.printf(
                Locale.ROOT,
                "| run | lr | trainable | %s (mean) | per seed | curve (last seed, step: value) | ms/step |%n|---|---|---|---|---|---|---|%n",
                sst2 ? "dev accuracy" : "held-out NLL");
        System.out.printf(Locale.ROOT, "| base (no adapter) | | 0 | %.4f | | | |%n", base);
        rows.forEach(System.out::println);
    }

    /** MiniLM with a fresh pooler and 2-class head, initialised from {@code seed}. */
    private static Model miniLm(Path shared, long seed) {
        Engine.getInstance().setRandomSeed((int) seed);
        return HfCheckpoint.loadForSequenceClassification(shared.resolve(MINILM), 2, Device.cpu());
    }

    private static String fmt(float a) {
        return a == Math.rint(a) ? String.valueOf((int) a) : String.valueOf(a);
    }

    private static LoraConfig lora(int r, float alpha, String[] targets) {
        return LoraConfig.builder().rank(r).alpha(alpha).dropout(0).targets(targets).build();
    }

    private static MosConfig mos(int v, int r, int l, int p, float alpha, String[] targets) {
        return MosConfig.builder()
                .equivalentRank(v)
                .rank(r)
                .shardsPerVector(l)
                .privateRank(p)
                .alpha(alpha)
                .dropout(0)
                .targets(targets)
                .build();
    }

    private static AdapterConfig withSeed(AdapterConfig c, long seed) {
        if (c instanceof MosConfig) {
            return ((MosConfig) c).toBuilder().seed(seed).build();
        }
        return ((LoraConfig) c).toBuilder().seed(seed).build();
    }

    /** Non-overlapping windows of seqLen + 1 tokens. */
    private static TrainingData windows(long[] tokens, int seqLen) {
        int n = (tokens.length - 1) / seqLen;
        return new TrainingData() {
            @Override
            public int size() {
                return n;
            }

            @Override
            public NDList batch(NDManager manager, int[] indices) {
                long[][] rows = new long[indices.length][];
                for (int i = 0; i < indices.length; i++) {
                    rows[i] =
                            java.util.Arrays.copyOfRange(
                                    tokens, indices[i] * seqLen, indices[i] * seqLen + seqLen + 1);
                }
                return new NDList(manager.create(rows));
            }
        };
    }

    /** Mean next-token NLL of a (B, T + 1) id batch. */
    private static NDArray nextTokenNll(Block model, NDArray ids, boolean training) {
        long t = ids.getShape().get(1) - 1;
        NDArray inputs = ids.get(new NDIndex(":, :{}", t));
        NDArray targets = ids.get(new NDIndex(":, 1:"));
        NDArray logits =
                model.forward(
                                new ParameterStore(ids.getManager(), false),
                                new NDList(inputs),
                                training)
                        .head();
        NDArray logp = logits.logSoftmax(-1);
        return logp.gather(targets.expandDims(-1), -1).neg().mean();
    }

    private static double heldOutNll(Block model, NDManager parent, long[] tokens, int seqLen) {
        TrainingData data = windows(tokens, seqLen);
        double sum = 0;
        int count = 0;
        for (int start = 0; start + 16 <= data.size(); start += 16) {
            try (NDManager m = parent.newSubManager()) {
                int[] idx = new int[16];
                for (int i = 0; i < 16; i++) {
                    idx[i] = start + i;
                }
                sum += nextTokenNll(model, data.batch(m, idx).head(), false).getFloat() * 16;
                count += 16;
            }
        }
        return sum / count;
    }

    private static float mean(List<Float> xs, int from, int to) {
        float s = 0;
        for (int i = from; i < to; i++) {
            s += xs.get(i);
        }
        return s / (to - from);
    }

    private static Path shared() {
        String env = System.getenv("PEFT4J_SHARED");
        List<Path> candidates = new ArrayList<>();
        if (env != null) {
            candidates.add(Path.of(env));
        }
        candidates.add(Path.of("../shared"));
        candidates.add(Path.of("../../shared"));
        for (Path p : candidates) {
            if (Files.isDirectory(p.resolve("models/stories260K"))) {
                return p;
            }
        }
        throw new IllegalStateException(
                "shared models folder not found; set PEFT4J_SHARED (tried " + candidates + ")");
    }
}
