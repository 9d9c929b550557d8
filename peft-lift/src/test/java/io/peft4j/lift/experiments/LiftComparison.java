package io.peft4j.lift.experiments;

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
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.PeftOptimizer;
import io.peft4j.core.train.TrainableModel;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import io.peft4j.lift.LiftConfig;
import io.peft4j.lift.LiftOptimizer;
import io.peft4j.lora.LoraConfig;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.LlamaForCausalLM;
import io.peft4j.models.TextTokenizer;

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

/**
 * The miniature LIFT comparison: stories260K (a 260K-parameter TinyStories LLaMA) fine-tuned on
 * tinyshakespeare, held-out next-token NLL, with the same steps, batches, schedule and seed for
 * every method: full fine-tuning (AdamW), LoRA at rank r on all linear layers, LIFT at the same
 * budget (rank-R filtered mask), LIFT without rank reduction (plain magnitude mask). Prints a
 * Markdown table. Not a test: run it with
 *
 * <pre>
 * mvn -o -q -B -pl peft-lift -am test-compile exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.peft4j.lift.experiments.LiftComparison
 * </pre>
 *
 * System properties: {@code lift.steps} (200), {@code lift.r} (4), {@code lift.R} (8), {@code
 * lift.T} (50), {@code lift.lr.full} (1e-3), {@code lift.lr.lora} (3e-3), {@code lift.lr.lift} (1e-3),
 * {@code lift.methods} (full,lora,lift,magnitude).
 */
public final class LiftComparison {

    private static final int SEQ = 128;
    private static final int BATCH = 8;
    private static final long SEED = 42;

    private LiftComparison() {}

    record Row(String method, long trainable, long stateBytes, double nllBefore, double nllAfter, double msPerStep, String note) {}

    public static void main(String[] args) throws Exception {
        Path shared = Path.of(System.getProperty("peft4j.shared", "../shared"));
        Path modelDir = shared.resolve("models/stories260K");
        Path text = shared.resolve("data/tinyshakespeare/input.txt");
        int steps = Integer.getInteger("lift.steps", 200);
        int r = Integer.getInteger("lift.r", 4);
        int bigR = Integer.getInteger("lift.R", 8);
        int interval = Integer.getInteger("lift.T", 50);
        double lrFull = Double.parseDouble(System.getProperty("lift.lr.full", "1e-3"));
        double lrLora = Double.parseDouble(System.getProperty("lift.lr.lora", "3e-3"));
        double lrLift = Double.parseDouble(System.getProperty("lift.lr.lift", "1e-3"));

        String all = Files.readString(text, StandardCharsets.UTF_8);
        long[] train;
        long[] heldOut;
        try (TextTokenizer tok = TextTokenizer.builder(modelDir.resolve("tokenizer.json")).addSpecialTokens(false).build()) {
            train = encode(tok, all.substring(0, 400_000));
            heldOut = encode(tok, all.substring(1_000_000, 1_040_000));
        }
        int trainWindows = (train.length - 1) / (SEQ + 1);
        int evalWindows = (heldOut.length - 1) / (SEQ + 1);
        System.out.printf(Locale.ROOT, "stories260K on tinyshakespeare: %d train tokens (%d windows of %d), %d held-out tokens (%d windows)%n",
                train.length, trainWindows, SEQ, heldOut.length, evalWindows);
        System.out.printf(Locale.ROOT, "steps %d, batch %d, seq %d, seed %d, r %d, R %d, T %d, lr full %.0e lora %.0e lift %.0e%n",
                steps, BATCH, SEQ, SEED, r, bigR, interval, lrFull, lrLora, lrLift);

        List<String> methods = List.of(System.getProperty("lift.methods", "full,lora,lift,magnitude").split(","));
        List<Row> rows = new ArrayList<>();
        if (methods.contains("full")) rows.add(run("full fine-tuning (AdamW)", modelDir, train, heldOut, steps, lrFull, lm -> new Setup(full(lm), () -> AdamW.builder().betas(0.9, 0.95).eps(1e-6).build(), null)));
        if (methods.contains("lora")) rows.add(run("LoRA r=" + r + " all-linear", modelDir, train, heldOut, steps, lrLora, lm -> {
            PeftModel peft = PeftModel.wrap(lm, LoraConfig.builder().rank(r).alpha(2 * r).allLinear().build());
            return new Setup(peft, () -> AdamW.builder().betas(0.9, 0.95).eps(1e-6).build(), peft);
        }));
        if (methods.contains("lift")) rows.add(run("LIFT r=" + r + " R=" + bigR + " T=" + interval, modelDir, train, heldOut, steps, lrLift, lm -> {
            PeftModel peft = PeftModel.wrap(lm, LiftConfig.builder().rank(r).filterRank(bigR).updateInterval(interval).build());
            return new Setup(peft, () -> LiftOptimizer.forModel(peft), peft);
        }));
        if (methods.contains("magnitude")) rows.add(run("LIFT r=" + r + " plain magnitude (no rank reduction) T=" + interval, modelDir, train, heldOut, steps, lrLift, lm -> {
            PeftModel peft = PeftModel.wrap(lm, LiftConfig.builder().rank(r).filterRank(0).updateInterval(interval).build());
            return new Setup(peft, () -> LiftOptimizer.forModel(peft), peft);
        }));

        System.out.println();
        System.out.println("| method | trainable entries | optimiser state (bytes) | held-out NLL before | after | ms/step | note |");
        System.out.println("|---|---:|---:|---:|---:|---:|---|");
        for (Row row : rows) {
            System.out.printf(Locale.ROOT, "| %s | %,d | %,d | %.4f | %.4f | %.1f | %s |%n", row.method(), row.trainable(),
                    row.stateBytes(), row.nllBefore(), row.nllAfter(), row.msPerStep(), row.note());
        }
    }

    /** What a method trains, with which optimiser; {@code peft} is closed after the run. */
    record Setup(TrainableModel model, Supplier<PeftOptimizer> optimizer, PeftModel peft) {}

    private static TrainableModel full(LlamaForCausalLM lm) {
        Map<String, Parameter> params = new LinkedHashMap<>();
        lm.namedParameters().forEach((name, p) -> {
            if (!name.equals("lm_head.weight")) { // tied to embed_tokens: train the storage once
                p.freeze(false);
                params.put(name, p);
            }
        });
        return () -> params;
    }

    private static Row run(String name, Path modelDir, long[] train, long[] heldOut, int steps, double lr,
            Function<LlamaForCausalLM, Setup> setupFn) {
        Engine.getInstance().setRandomSeed((int) SEED);
        try (Model model = HfCheckpoint.load(modelDir, Device.cpu())) {
            LlamaForCausalLM lm = (LlamaForCausalLM) model.getBlock();
            NDManager root = model.getNDManager();
            double before = nll(lm, heldOut, root);
            Setup setup = setupFn.apply(lm);
            long trainable = 0;
            for (Parameter p : setup.model().trainableParameters().values()) {
                trainable += p.getArray().size();
            }
            long[] stateBytes = new long[1];
            String[] note = {""};
            Supplier<PeftOptimizer> recording = () -> new Recording(setup.optimizer().get(), stateBytes, note);
            TrainingData data = windows(train);
            TrainingResult result = FineTuner.builder().learningRate(lr).warmupSteps(10).maxSteps(steps).batchSize(BATCH)
                    .seed(SEED).progress(false).optimizer(recording).build()
                    .fit(setup.model(), (batch, training) -> loss(lm, batch.head(), training), data);
            double after = nll(lm, heldOut, root);
            double ms = 1000.0 * result.seconds() / result.steps();
            if (setup.peft() != null) {
                setup.peft().close();
            }
            System.out.printf(Locale.ROOT, "%-55s trainable %,9d  state %,11d B  NLL %.4f -> %.4f  %.1f ms/step  %s%n",
                    name, trainable, stateBytes[0], before, after, ms, note[0]);
            return new Row(name, trainable, stateBytes[0], before, after, ms, note[0]);
        }
    }

    /** Mean next-token NLL of a (B, SEQ + 1) batch of ids. */
    private static NDArray loss(Block lm, NDArray ids, boolean training) {
        NDArray input = ids.get(":, :-1");
        NDArray target = ids.get(":, 1:");
        NDArray logits = lm.forward(new ParameterStore(ids.getManager(), false), new NDList(input), training).head();
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

    /** Delegates and records the state size after every step (the trainer closes the optimiser). */
    private static final class Recording implements PeftOptimizer {
        private final PeftOptimizer inner;
        private final long[] bytes;
        private final String[] note;

        Recording(PeftOptimizer inner, long[] bytes, String[] note) {
            this.inner = inner;
            this.bytes = bytes;
            this.note = note;
        }

        @Override
        public void step(Map<String, Parameter> params, float learningRate) {
            inner.step(params, learningRate);
            bytes[0] = inner.stateBytes();
            if (inner instanceof LiftOptimizer) {
                LiftOptimizer lift = (LiftOptimizer) inner;
                note[0] = String.format(Locale.ROOT, "dense Adam on the same matrices: %,d B", lift.denseAdamStateBytes());
            }
        }

        @Override
        public Map<String, NDArray> state() {
            return inner.state();
        }

        @Override
        public void loadState(Map<String, NDArray> state) {
            inner.loadState(state);
        }

        @Override
        public long stateBytes() {
            return inner.stateBytes();
        }

        @Override
        public void close() {
            inner.close();
        }
    }
}
