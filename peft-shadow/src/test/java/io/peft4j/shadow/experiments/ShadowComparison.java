package io.peft4j.shadow.experiments;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;

import io.peft4j.core.PeftModel;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.LossFunction;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import io.peft4j.lora.LoraConfig;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.LlamaForCausalLM;
import io.peft4j.models.TextTokenizer;
import io.peft4j.shadow.DetachedShadow;
import io.peft4j.shadow.ShadowConfig;
import io.peft4j.shadow.ShadowModel;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * Miniature comparison: stories260K (a 5-layer LLaMA trained on TinyStories) adapted to
 * tinyshakespeare; held-out next-token NLL of the base, LoRA (all linear, r 8), ShadowPEFT (default
 * sizes) and ShadowPEFT's detached shadow; trainable parameters, step time, inference time.
 * Fixed seeds, the same data order and steps for every method.
 *
 * <pre>
 * mvn -o -q -B -pl peft-shadow -am test-compile exec:java -Dexec.skip=false -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.peft4j.shadow.experiments.ShadowComparison [-Dexec.args="steps lr"]
 * </pre>
 */
public final class ShadowComparison {

    private static final int SEQ = 64;
    private static final int BATCH = 8;

    private ShadowComparison() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", "true");
        // One intra-op and one inter-op thread: on a shared 2-core machine, PyTorch's spinning
        // worker threads make timings swing by 10x; one thread keeps them comparable.
        System.setProperty("ai.djl.pytorch.num_threads", "1");
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 300;
        double lr = args.length > 1 ? Double.parseDouble(args[1]) : 2e-3;
        Path shared = Path.of(System.getProperty("peft4j.shared", "../shared")).toAbsolutePath().normalize();
        if (!Files.isDirectory(shared.resolve("models/stories260K"))) {
            shared = Path.of("..", "..", "shared").toAbsolutePath().normalize();
        }
        Path modelDir = shared.resolve("models/stories260K");
        String text = Files.readString(shared.resolve("data/tinyshakespeare/input.txt"), StandardCharsets.UTF_8);
        Engine.getInstance().setRandomSeed(42);
        try (Model model = HfCheckpoint.load(modelDir, Device.cpu());
                TextTokenizer tok = TextTokenizer.builder(modelDir.resolve("tokenizer.json")).build()) {
            LlamaForCausalLM lm = (LlamaForCausalLM) model.getBlock();
            // first 90% of the text to train, the last 10% held out (a different part of the plays)
            int cut = (int) (text.length() * 0.9);
            long[][] train = chunks(tok, text.substring(0, Math.min(cut, 300_000)));
            long[][] heldOut = Arrays.copyOf(chunks(tok, text.substring(cut)), 128);
            System.out.printf(Locale.ROOT, "stories260K -> tinyshakespeare: %d train chunks, %d held-out chunks of %d tokens;"
                    + " %d steps x batch %d, lr %.0e, AdamW, seed 42%n", train.length, heldOut.length, SEQ, steps, BATCH, lr);
            NDManager m = model.getNDManager();
            List<String> rows = new ArrayList<>();
            rows.add("| method | trainable params | held-out NLL (nats/token) | train step (ms) | forward (ms, 16x64 tokens) |");
            rows.add("|---|---:|---:|---:|---:|");
            double baseNll = nll(m, heldOut, ids -> lm.forward(new ParameterStore(ids.getManager(), false), new NDList(ids), false).head());
            double baseMs = forwardMs(m, heldOut, ids -> lm.forward(new ParameterStore(ids.getManager(), false), new NDList(ids), false).head());
            rows.add(String.format(Locale.ROOT, "| base (no training) | 0 | %.4f | - | %.1f |", baseNll, baseMs));

            // LoRA, all linear layers, r 8 (46,240 params: comparable to ShadowPEFT's 47,552)
            AdapterConfig lora = LoraConfig.builder().rank(8).alpha(16).allLinear().build();
            try (PeftModel peft = PeftModel.wrap(lm, lora)) {
                long n = peft.trainableSummary().trainable();
                TrainingResult r = train(peft, steps, lr, train, (b, t) -> ShadowModel.nextTokenLoss(peft.forward(b, t).head(), b.get(0), null));
                double loss = nll(m, heldOut, ids -> peft.forward(new NDList(ids)).head());
                double ms = forwardMs(m, heldOut, ids -> peft.forward(new NDList(ids)).head());
                rows.add(String.format(Locale.ROOT, "| LoRA r=8 all-linear | %,d | %.4f | %.1f | %.1f |", n, loss, 1000 * r.seconds() / r.steps(), ms));
            }

            // ShadowPEFT, default sizes; loss = CE(base) + 0.05 CE(shadow)
            try (PeftModel peft = PeftModel.wrap(lm, ShadowConfig.builder().build())) {
                ShadowModel shadow = ShadowModel.of(peft);
                long n = peft.trainableSummary().trainable();
                TrainingResult r = train(peft, steps, lr, train, (b, t) -> shadow.causalLmLoss(b.get(0), null, t));
                double loss = nll(m, heldOut, ids -> peft.forward(new NDList(ids)).head());
                double ms = forwardMs(m, heldOut, ids -> peft.forward(new NDList(ids)).head());
                rows.add(String.format(Locale.ROOT, "| ShadowPEFT (1 shadow layer, b=16, g=10) | %,d | %.4f | %.1f | %.1f |", n, loss, 1000 * r.seconds() / r.steps(), ms));
                DetachedShadow detached = shadow.detached();
                double dLoss = nll(m, heldOut, ids -> detached.logits(ids, null, false));
                double dMs = forwardMs(m, heldOut, ids -> detached.logits(ids, null, false));
                rows.add(String.format(Locale.ROOT, "| ShadowPEFT detached shadow (no base layer) | (%,d of them) | %.4f | - | %.1f |",
                        shadow.shadowParameterCount(), dLoss, dMs));
            }

            // Shadow pretrained alone (next-token loss through the frozen head), then attached
            Path dir = Files.createTempDirectory("shadow-pretrained");
            try (DetachedShadow pre = DetachedShadow.create(lm, ShadowConfig.builder().build())) {
                TrainingResult r = train(pre, steps, lr, train, (b, t) -> pre.loss(b.get(0), null, t));
                double dLoss = nll(m, heldOut, ids -> pre.logits(ids, null, false));
                rows.add(String.format(Locale.ROOT, "| shadow pretrained alone (detached) | %,d | %.4f | %.1f | - |",
                        pre.parameterCount(), dLoss, 1000 * r.seconds() / r.steps()));
                pre.save(dir);
            }
            try (PeftModel peft = PeftModel.wrap(lm, ShadowConfig.builder().pretrainedShadow(dir.toString()).build())) {
                ShadowModel shadow = ShadowModel.of(peft);
                long n = peft.trainableSummary().trainable();
                TrainingResult r = train(peft, steps, lr, train, (b, t) -> shadow.causalLmLoss(b.get(0), null, t));
                double loss = nll(m, heldOut, ids -> peft.forward(new NDList(ids)).head());
                rows.add(String.format(Locale.ROOT, "| ShadowPEFT from the pretrained shadow (2x the steps in all) | %,d | %.4f | %.1f | - |",
                        n, loss, 1000 * r.seconds() / r.steps()));
                double dLoss = nll(m, heldOut, ids -> shadow.detached().logits(ids, null, false));
                rows.add(String.format(Locale.ROOT, "| ... its detached shadow | (%,d of them) | %.4f | - | - |", shadow.shadowParameterCount(), dLoss));
            }
            System.out.println();
            rows.forEach(System.out::println);
        }
    }

    private static long[][] chunks(TextTokenizer tok, String text) {
        List<Long> all = new ArrayList<>();
        for (String block : text.split("\n\n")) {
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

    private static TrainingResult train(io.peft4j.core.train.TrainableModel model, int steps, double lr, long[][] data, LossFunction loss) {
        TrainingData td = new TrainingData() {
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
        return FineTuner.builder().learningRate(lr).warmupSteps(steps / 10).maxSteps(steps).batchSize(BATCH)
                .seed(42).progress(false).build().fit(model, loss, td);
    }

    private static double nll(NDManager m, long[][] data, Function<NDArray, NDArray> logits) {
        double total = 0;
        int batches = 0;
        for (int i = 0; i + 16 <= data.length; i += 16) {
            try (NDManager s = m.newSubManager()) {
                NDArray ids = s.create(Arrays.copyOfRange(data, i, i + 16));
                total += ShadowModel.nextTokenLoss(logits.apply(ids), ids, null).getFloat();
                batches++;
            }
        }
        return total / batches;
    }

    /** Median over 15 runs of one inference forward on 16 x 64 tokens (5 warm-up runs). */
    private static double forwardMs(NDManager m, long[][] data, Function<NDArray, NDArray> logits) {
        double[] t = new double[15];
        for (int r = -5; r < t.length; r++) {
            try (NDManager s = m.newSubManager()) {
                NDArray ids = s.create(Arrays.copyOfRange(data, 0, 16));
                long start = System.nanoTime();
                logits.apply(ids).getFloat(0, 0, 0);
                if (r >= 0) {
                    t[r] = (System.nanoTime() - start) / 1e6;
                }
            }
        }
        Arrays.sort(t);
        return t[t.length / 2];
    }
}
