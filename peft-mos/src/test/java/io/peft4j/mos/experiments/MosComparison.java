package io.peft4j.mos.experiments;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;

import io.peft4j.core.PeftModel;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.NonFiniteLossException;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import io.peft4j.lora.LoraConfig;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.TextTokenizer;
import io.peft4j.mos.MosConfig;

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
 * shared pools) beat LoRA of rank v, and how close does it get to LoRA of rank 8v? stories260K
 * (LLaMA, 5 layers, hidden 64) fine-tuned on tinyshakespeare, held-out next-token NLL. Fixed seeds;
 * every run sees the same batches in the same order.
 *
 * <pre>
 * mvn -o -q -B -pl peft-mos -am test-compile exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.peft4j.mos.experiments.MosComparison [-Dexec.args="steps=300 v=4 lr=5e-3 seeds=0"]
 * </pre>
 */
public final class MosComparison {

    private static final String[] TARGETS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

    private MosComparison() {}

    record Run(String label, AdapterConfig config) {}

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new LinkedHashMap<>();
        for (String a : args) {
            String[] kv = a.split("=", 2);
            opts.put(kv[0], kv.length > 1 ? kv[1] : "true");
        }
        int steps = Integer.parseInt(opts.getOrDefault("steps", "60"));
        int v = Integer.parseInt(opts.getOrDefault("v", "4"));
        double lr = Double.parseDouble(opts.getOrDefault("lr", "2e-3"));
        int batch = Integer.parseInt(opts.getOrDefault("batch", "8"));
        int seqLen = Integer.parseInt(opts.getOrDefault("seq", "64"));
        float alpha = Float.parseFloat(opts.getOrDefault("alpha", "16"));
        List<Long> seeds = new ArrayList<>();
        for (String s : opts.getOrDefault("seeds", "0").split(",")) {
            seeds.add(Long.parseLong(s));
        }
        Path shared = shared();
        Path modelDir = shared.resolve("models/stories260K");
        String text = Files.readString(shared.resolve("data/tinyshakespeare/input.txt"), StandardCharsets.UTF_8);
        long[] train;
        long[] heldOut;
        try (TextTokenizer tok = TextTokenizer.builder(modelDir).addSpecialTokens(false).build()) {
            train = tok.encode(text.substring(0, 200_000));
            heldOut = tok.encode(text.substring(text.length() - 12_000));
        }
        System.out.printf(Locale.ROOT, "stories260K + tinyshakespeare: %d train tokens, %d held-out tokens; %d steps x batch %d x %d tokens,"
                + " lr %.0e, alpha %.0f, dropout 0, targets all 7 projections, v = %d, seeds %s%n",
                train.length, heldOut.length, steps, batch, seqLen, lr, alpha, v, seeds);

        List<Run> runs = new ArrayList<>();
        runs.add(new Run("LoRA r=" + v, lora(v, alpha)));
        runs.add(new Run("MoS v=" + v + " r=" + 2 * v + " l=2 p=1", mos(v, 2 * v, 2, 1, alpha)));
        if (4 * v - 1 <= (v - 1) * 5) {
            runs.add(new Run("MoS v=" + v + " r=" + 4 * v + " l=2 p=1", mos(v, 4 * v, 2, 1, alpha)));
        }
        if (opts.containsKey("p0")) {
            runs.add(new Run("MoS v=" + v + " r=" + 4 * v + " l=2 p=0", mos(v, 4 * v, 2, 0, alpha)));
        }
        runs.add(new Run("LoRA r=" + 8 * v, lora(8 * v, alpha)));

        double baseNll;
        try (Model model = HfCheckpoint.load(modelDir, Device.cpu())) {
            baseNll = heldOutNll(model.getBlock(), model.getNDManager(), heldOut, seqLen);
        }
        System.out.printf(Locale.ROOT, "base model (no adapter): held-out NLL %.4f%n", baseNll);
        List<String> rows = new ArrayList<>();
        for (Run run : runs) {
            double nllSum = 0;
            double msSum = 0;
            long trainable = 0;
            StringBuilder perSeed = new StringBuilder();
            for (long seed : seeds) {
                try (Model model = HfCheckpoint.load(modelDir, Device.cpu())) {
                    AdapterConfig config = withSeed(run.config(), seed);
                    try (PeftModel peft = PeftModel.wrap(model.getBlock(), config)) {
                        trainable = peft.trainableSummary().trainable();
                        Block block = model.getBlock();
                        TrainingData data = windows(train, seqLen);
                        TrainingResult result;
                        try {
                            result = FineTuner.builder().learningRate(lr).warmupSteps(steps / 10).maxSteps(steps)
                                .batchSize(batch).seed(seed).progress(false).build()
                                .fit(peft, (b, training) -> nextTokenNll(block, b.head(), training), data);
                        } catch (NonFiniteLossException e) {
                            System.out.printf(Locale.ROOT, "%-24s seed %d: stopped, %s%n", run.label(), seed, e.getMessage());
                            perSeed.append(" diverged");
                            nllSum = Double.NaN;
                            continue;
                        }
                        double nll = heldOutNll(block, model.getNDManager(), heldOut, seqLen);
                        double ms = 1000 * result.seconds() / result.steps();
                        nllSum += nll;
                        msSum += ms;
                        perSeed.append(String.format(Locale.ROOT, " %.4f", nll));
                        System.out.printf(Locale.ROOT, "%-24s seed %d: trainable %,d, train loss %.4f -> %.4f, held-out NLL %.4f, %.1f ms/step%n",
                                run.label(), seed, trainable, mean(result.losses(), 0, 10),
                                mean(result.losses(), result.losses().size() - 10, result.losses().size()), nll, ms);
                    }
                }
            }
            rows.add(String.format(Locale.ROOT, "| %s | %,d | %.4f |%s | %.1f |", run.label(), trainable,
                    nllSum / seeds.size(), perSeed, msSum / seeds.size()));
        }
        System.out.println();
        System.out.printf(Locale.ROOT, "| run | trainable | held-out NLL (mean) | per seed | ms/step |%n|---|---|---|---|---|%n");
        System.out.printf(Locale.ROOT, "| base (no adapter) | 0 | %.4f | | |%n", baseNll);
        rows.forEach(System.out::println);
    }

    private static LoraConfig lora(int r, float alpha) {
        return LoraConfig.builder().rank(r).alpha(alpha).dropout(0).targets(TARGETS).build();
    }

    private static MosConfig mos(int v, int r, int l, int p, float alpha) {
        return MosConfig.builder().equivalentRank(v).rank(r).shardsPerVector(l).privateRank(p).alpha(alpha).dropout(0)
                .targets(TARGETS).build();
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
                    rows[i] = java.util.Arrays.copyOfRange(tokens, indices[i] * seqLen, indices[i] * seqLen + seqLen + 1);
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
        NDArray logits = model.forward(new ParameterStore(ids.getManager(), false), new NDList(inputs), training).head();
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
        throw new IllegalStateException("shared models folder not found; set PEFT4J_SHARED (tried " + candidates + ")");
    }
}
