package io.peft4j.bench;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import io.peft4j.core.PeftModel;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.models.BertConfig;
import io.peft4j.models.BertModel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * LoRA's speed and memory figures on all-MiniLM-L6-v2 (the langchain4j ONNX export), every figure a
 * ratio of runs made side by side in this process (rounds alternate the cases; medians of per-round
 * ratios), except memory, which runs one child JVM per case:
 *
 * <ul>
 *   <li>{@code train}: LoRA (r=8, query/value) train step / full fine-tuning train step, batch 16 x
 *       128;
 *   <li>{@code forward}: unmerged LoRA forward / base forward and merged / base, batch 32 x 128;
 *   <li>{@code flops}: matmul FLOPs of a train step (counted from shapes) per second / raw libtorch
 *       matmul GFLOP/s on the model's largest GEMM shape, measured in the same run;
 *   <li>{@code memory}: optimiser-state bytes and peak RSS (VmHWM) of LoRA vs full fine-tuning;
 *   <li>{@code python}: the LoRA train step / the same step in PyTorch-Python ({@link
 *       PythonReference}; skipped, and said so, where no python3 can import torch).
 * </ul>
 *
 * A train step is FineTuner's step body: forward with dropout, loss, backward, AdamW, zeroed
 * gradients, a sub-manager per step. Usage: {@code MiniLmLoraFigures
 * [cases=train,forward,flops,memory,python] [rounds=4] [--tiny]}; {@code --tiny} runs a random
 * 4-layer BERT (enough layers for MoS's shard pool) at batch 2 x 8 (the CI smoke run).
 */
public final class MiniLmLoraFigures {

    private final boolean tiny;
    private final int rounds;
    private final Path onnx;

    MiniLmLoraFigures(boolean tiny, int rounds) {
        this.tiny = tiny;
        this.rounds = rounds;
        this.onnx = tiny ? null : Bench.minilmOnnx();
    }

    public static void main(String[] args) throws Exception {
        // first thing: MKL's fast path on AMD CPUs (the library never installs it)
        io.peft4j.core.engine.MklCpuDispatch.install();
        if (args.length > 0 && args[0].equals("child-train")) {
            childTrain(
                    args[1].equals("lora"),
                    Integer.parseInt(args[2]),
                    args.length > 3 && args[3].equals("--tiny"));
            return;
        }
        Bench.printReport(args, "train,forward,flops,memory,python", 4, MiniLmLoraFigures::run);
    }

    /** Runs the named cases (comma separated) and returns the report lines. */
    static List<String> run(String cases, int rounds, boolean tiny) throws Exception {
        Bench.gradOff();
        MiniLmLoraFigures bench = new MiniLmLoraFigures(tiny, rounds);
        List<String> out = new ArrayList<>();
        out.add(
                "MiniLM LoRA figures, "
                        + (tiny ? "TINY random BERT (smoke run)" : "all-MiniLM-L6-v2")
                        + "; "
                        + Bench.machine());
        Set<String> wanted = new LinkedHashSet<>(List.of(cases.split(",")));
        if (wanted.contains("train") || wanted.contains("flops")) {
            out.addAll(bench.train(wanted.contains("flops")));
        }
        if (wanted.contains("forward")) {
            out.addAll(bench.forward());
        }
        if (wanted.contains("memory")) {
            out.addAll(bench.memory());
        }
        if (wanted.contains("python")) {
            out.addAll(PythonReference.compare(bench, rounds, PythonReference.defaultCandidates()));
        }
        return out;
    }

    // ---------------------------------------------------------------- models

    BertConfig config() {
        if (!tiny) {
            return Bench.minilmConfig();
        }
        return BertConfig.builder()
                .vocabSize(1200)
                .hiddenSize(32)
                .numHiddenLayers(4)
                .numAttentionHeads(4)
                .intermediateSize(64)
                .maxPositionEmbeddings(64)
                .addPoolingLayer(false)
                .build();
    }

    int trainBatch() {
        return tiny ? 2 : 16;
    }

    int forwardBatch() {
        return tiny ? 2 : 32;
    }

    int seq() {
        return tiny ? 8 : 128;
    }

    Model newModel() {
        if (!tiny) {
            return Bench.loadMinilm(onnx);
        }
        Model model = Model.newInstance("tiny-bert");
        BertModel block = new BertModel(config());
        block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, seq()));
        model.setBlock(block);
        return model;
    }

    static AdapterConfig loraConfig() {
        return BenchMethods.lora("query", "value");
    }

    /** LoRA r=8 on query/value, or full fine-tuning of every parameter. */
    Trainee trainee(boolean lora) {
        Model model = newModel();
        return lora
                ? Trainee.adapted("LoRA r=8 q/v", model, loraConfig())
                : Trainee.full(
                        "full fine-tuning",
                        model,
                        ((BertModel) model.getBlock()).namedParameters());
    }

    /** Seconds for one train step (forward, loss, backward, AdamW, zero grads). */
    static double trainStep(Trainee t, NDManager manager, long[] ids, int batch, int seq) {
        return t.step(manager, scope -> Bench.bertInputs(scope, ids, batch, seq), LEARNING_RATE);
    }

    /** The train steps' learning rate (AdamW; small, so that repeated steps stay finite). */
    static final float LEARNING_RATE = 1e-5f;

    // ---------------------------------------------------------------- train + flops

    List<String> train(boolean flops) {
        int batch = trainBatch();
        int seq = seq();
        BertConfig c = config();
        long[] ids = Bench.randomIds(batch, seq, c.vocabSize(), 7);
        List<String> out = new ArrayList<>();
        try (Trainee adapted = trainee(true);
                Trainee full = trainee(false);
                NDManager manager = NDManager.newBaseManager()) {
            long rows = (long) batch * seq;
            long in = c.hiddenSize();
            long mid = c.intermediateSize();
            NDArray ga = manager.randomNormal(0, 1, new Shape(rows, in), DataType.FLOAT32);
            NDArray gb = manager.randomNormal(0, 1, new Shape(in, mid), DataType.FLOAT32);
            // warm-up: first steps allocate the AdamW moments
            trainStep(adapted, manager, ids, batch, seq);
            trainStep(full, manager, ids, batch, seq);
            double[] ratio = new double[rounds];
            double[] loraS = new double[rounds];
            double[] fullS = new double[rounds];
            double[] gemm = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                if (r % 2 == 0) {
                    loraS[r] = trainStep(adapted, manager, ids, batch, seq);
                    fullS[r] = trainStep(full, manager, ids, batch, seq);
                } else {
                    fullS[r] = trainStep(full, manager, ids, batch, seq);
                    loraS[r] = trainStep(adapted, manager, ids, batch, seq);
                }
                ratio[r] = loraS[r] / fullS[r];
                gemm[r] = rawMatmulGflops(manager, ga, gb);
            }
            out.add(
                    String.format(
                            Locale.ROOT,
                            "train step, batch %d x %d: LoRA r=8 q/v (%,d trainable) %.0f ms,"
                                    + " full fine-tuning (%,d trainable) %.0f ms (medians)",
                            batch,
                            seq,
                            adapted.trainableCount(),
                            Bench.median(loraS) * 1e3,
                            full.trainableCount(),
                            Bench.median(fullS) * 1e3));
            out.add(
                    "  LoRA step / full fine-tuning step: "
                            + Bench.summary(ratio)
                            + "   (goal <= 0.70)");
            if (flops) {
                double fwd = forwardMatmulFlops(c, batch, seq);
                double attn = attentionMatmulFlops(c, batch, seq);
                double lin = fwd - attn;
                double fullFlops = 3 * fwd; // forward + grad of inputs + grad of weights
                double loraFlops = fwd + lin + 2 * attn; // frozen linears: input gradients only
                double[] fullEff = new double[rounds];
                double[] loraEff = new double[rounds];
                double[] fullG = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    fullG[r] = fullFlops / fullS[r] / 1e9;
                    fullEff[r] = fullG[r] / gemm[r];
                    loraEff[r] = loraFlops / loraS[r] / 1e9 / gemm[r];
                }
                out.add(
                        String.format(
                                Locale.ROOT,
                                "train-step matmul throughput: full FT %.1f GFLOP/s (%.1f GFLOP/step counted"
                                        + " from shapes), raw libtorch matmul (%d x %d)(%d x %d) %.1f GFLOP/s (medians)",
                                Bench.median(fullG),
                                fullFlops / 1e9,
                                rows,
                                in,
                                in,
                                mid,
                                Bench.median(gemm)));
                out.add(
                        "  full FT step throughput / raw matmul: "
                                + Bench.summary(fullEff)
                                + "   (goal >= 0.7)");
                out.add(
                        "  LoRA step throughput / raw matmul:    "
                                + Bench.summary(loraEff)
                                + String.format(
                                        Locale.ROOT, "   (%.1f GFLOP/step)", loraFlops / 1e9));
            }
        }
        return out;
    }

    /** Matmul FLOPs of one forward: the six Linears per layer plus the two attention products. */
    static double forwardMatmulFlops(BertConfig c, int batch, int seq) {
        double tokens = (double) batch * seq;
        double h = c.hiddenSize();
        double linear = 2 * tokens * (4 * h * h + 2 * h * c.intermediateSize());
        return c.numHiddenLayers() * linear + attentionMatmulFlops(c, batch, seq);
    }

    static double attentionMatmulFlops(BertConfig c, int batch, int seq) {
        // q k^T and probs v: 2 * (2 * B * T * T * hidden) per layer
        return c.numHiddenLayers() * 2.0 * 2.0 * batch * (double) seq * seq * c.hiddenSize();
    }

    /** GFLOP/s of one (rows x in)(in x mid) matmul, best of 3. */
    static double rawMatmulGflops(NDManager manager, NDArray a, NDArray b) {
        double best = 0;
        double flops = 2.0 * a.getShape().get(0) * a.getShape().get(1) * b.getShape().get(1);
        for (int i = 0; i < 3; i++) {
            long start = System.nanoTime();
            try (NDManager scope = manager.newSubManager()) {
                NDArray y = a.matMul(b);
                y.attach(scope);
                y.toByteBuffer();
            }
            best = Math.max(best, flops / ((System.nanoTime() - start) / 1e9) / 1e9);
        }
        return best;
    }

    // ---------------------------------------------------------------- forward

    List<String> forward() {
        int batch = forwardBatch();
        int seq = seq();
        long[] ids = Bench.randomIds(batch, seq, config().vocabSize(), 11);
        try (Model base = newModel();
                Model unmergedModel = newModel();
                Model mergedModel = newModel();
                PeftModel unmerged = PeftModel.wrap(unmergedModel.getBlock(), loraConfig());
                PeftModel merged = PeftModel.wrap(mergedModel.getBlock(), loraConfig());
                NDManager manager = NDManager.newBaseManager()) {
            for (PeftModel p : List.of(unmerged, merged)) {
                manager.getEngine().setRandomSeed(5);
                for (Parameter param : p.trainableParameters().values()) {
                    try (NDArray r =
                            param.getArray()
                                    .getManager()
                                    .randomNormal(param.getArray().getShape())
                                    .mul(0.02)) {
                        r.copyTo(param.getArray());
                    }
                }
            }
            merged.merge();
            Block[] blocks = {base.getBlock(), unmergedModel.getBlock(), mergedModel.getBlock()};
            for (Block b : blocks) {
                timeForward(b, manager, ids, batch, seq); // warm-up
            }
            double[] unmergedRatio = new double[rounds];
            double[] mergedRatio = new double[rounds];
            double[] baseMs = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                double b1 = timeForward(blocks[0], manager, ids, batch, seq);
                double u;
                double m;
                if (r % 2 == 0) {
                    u = timeForward(blocks[1], manager, ids, batch, seq);
                    m = timeForward(blocks[2], manager, ids, batch, seq);
                } else {
                    m = timeForward(blocks[2], manager, ids, batch, seq);
                    u = timeForward(blocks[1], manager, ids, batch, seq);
                }
                double b2 = timeForward(blocks[0], manager, ids, batch, seq);
                double b = (b1 + b2) / 2;
                baseMs[r] = b * 1e3;
                unmergedRatio[r] = u / b;
                mergedRatio[r] = m / b;
            }
            return List.of(
                    String.format(
                            Locale.ROOT,
                            "forward, batch %d x %d: base %.0f ms (median)",
                            batch,
                            seq,
                            Bench.median(baseMs)),
                    "  unmerged LoRA r=8 q/v / base: "
                            + Bench.summary(unmergedRatio)
                            + "   (goal <= 1.10)",
                    "  merged LoRA / base:           "
                            + Bench.summary(mergedRatio)
                            + "   (expected 1.00)");
        }
    }

    static double timeForward(Block block, NDManager manager, long[] ids, int batch, int seq) {
        long start = System.nanoTime();
        try (NDManager scope = manager.newSubManager()) {
            NDList in = Bench.bertInputs(scope, ids, batch, seq);
            block.forward(new ParameterStore(scope, false), in, false).head().toByteBuffer();
        }
        return (System.nanoTime() - start) / 1e9;
    }

    // ---------------------------------------------------------------- memory

    List<String> memory() throws IOException, InterruptedException {
        int steps = 3;
        Map<String, long[]> results = new LinkedHashMap<>();
        for (String kind : List.of("lora", "full")) {
            results.put(kind, runChild(kind, steps));
        }
        long[] l = results.get("lora");
        long[] f = results.get("full");
        List<String> out = new ArrayList<>();
        out.add(
                String.format(
                        Locale.ROOT,
                        "memory, batch %d x %d, %d train steps, one child JVM per case:",
                        trainBatch(),
                        seq(),
                        steps));
        out.add(
                String.format(
                        Locale.ROOT,
                        "  optimiser state: LoRA %,d bytes, full FT %,d bytes (ratio %.4f)",
                        l[0],
                        f[0],
                        (double) l[0] / f[0]));
        out.add(
                String.format(
                        Locale.ROOT,
                        "  peak RSS during training (VmHWM, reset after loading): LoRA %,d KiB, full FT %,d KiB (ratio %.3f);"
                                + " RSS after loading the model: LoRA %,d KiB, full FT %,d KiB",
                        l[1],
                        f[1],
                        (double) l[1] / f[1],
                        l[2],
                        f[2]));
        out.add(
                String.format(
                        Locale.ROOT,
                        "  peak RSS above the loaded model: LoRA %,d KiB, full FT %,d KiB (ratio %.3f)",
                        l[1] - l[2],
                        f[1] - f[2],
                        (double) (l[1] - l[2]) / (f[1] - f[2])));
        return out;
    }

    /** {optimiser bytes, peak RSS KiB during the steps, RSS KiB after loading} from a child JVM. */
    long[] runChild(String kind, int steps) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("child-train", kind, String.valueOf(steps)));
        if (tiny) {
            args.add("--tiny");
        }
        return Bench.runChild(MiniLmLoraFigures.class, args);
    }

    static void childTrain(boolean lora, int steps, boolean tiny) {
        Bench.gradOff();
        MiniLmLoraFigures bench = new MiniLmLoraFigures(tiny, 1);
        int batch = bench.trainBatch();
        int seq = bench.seq();
        long[] ids = Bench.randomIds(batch, seq, bench.config().vocabSize(), 7);
        try (Trainee t = bench.trainee(lora);
                NDManager manager = NDManager.newBaseManager()) {
            long[] memory =
                    t.trainingMemory(
                            manager,
                            scope -> Bench.bertInputs(scope, ids, batch, seq),
                            LEARNING_RATE,
                            steps);
            System.out.println(
                    "RESULT " + t.optimizer().stateBytes() + " " + memory[0] + " " + memory[1]);
        }
    }
}
