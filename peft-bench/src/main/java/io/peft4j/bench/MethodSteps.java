package io.peft4j.bench;

import ai.djl.Model;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.examples.cli.Methods;
import io.peft4j.lift.LiftAdapter;
import io.peft4j.lift.LiftOptimizer;
import io.peft4j.models.BertModel;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Per-method figures on all-MiniLM-L6-v2, train batch 16 x 128: each method's train step / LoRA's,
 * measured side by side (each round steps every method once, in an order rotated round by round;
 * the figure is the median of per-round ratios), and each method's optimiser-state bytes and peak
 * RSS (one child JVM per method, so a peak belongs to one method alone).
 *
 * <p>Budgets: LoRA r=8 on query/value (73,728 trainable); MoS and LIFT at the same count (MoS v=8,
 * r=16; LIFT k = (m+n)·8 entries per matrix); MASA and ShadowPEFT with the settings {@code peft4j
 * train --method masa|shadow} uses (they have no rank to match); and dense AdamW on the query/value
 * weights, the baseline LIFT's sparse state is compared with. Configs are built by the CLI's {@link
 * Methods#config}, so these are the adapters {@code peft4j train} trains.
 *
 * <p>Usage: {@code MethodSteps [cases=steps,memory] [rounds=4] [--tiny]}; {@code --tiny} is a
 * random 4-layer BERT at batch 2 x 8 (the CI smoke run).
 */
public final class MethodSteps {

    /** One trained setting: a key, its label and how to build its trainee. */
    record Setting(String key, String label, String method, List<String> targets) {}

    static final List<Setting> SETTINGS =
            List.of(
                    new Setting("lora", "LoRA r=8 q/v", "lora", List.of("query", "value")),
                    new Setting("mos", "MoS v=8 r=16 q/v", "mos", List.of("query", "value")),
                    new Setting("lift", "LIFT r=8 q/v", "lift", List.of("query", "value")),
                    new Setting("masa", "MASA S=2 q/k/v", "masa", List.of("query", "key", "value")),
                    new Setting("shadow", "ShadowPEFT (defaults)", "shadow", List.of()),
                    new Setting(
                            "dense-qv",
                            "dense AdamW on q/v weights",
                            null,
                            List.of("query", "value")));

    private final boolean tiny;

    /** The model and shapes (MiniLM or the tiny BERT), shared with MiniLmLoraFigures's figures. */
    private final MiniLmLoraFigures shapes;

    private MethodSteps(boolean tiny) {
        this.tiny = tiny;
        this.shapes = new MiniLmLoraFigures(tiny, 1);
    }

    public static void main(String[] args) throws Exception {
        io.peft4j.core.engine.MklCpuDispatch
                .install(); // first thing: MKL's fast path on AMD CPUs (the library never installs
        // it)
        if (args.length > 0 && args[0].equals("child")) {
            new MethodSteps(args.length > 3 && args[3].equals("--tiny"))
                    .child(setting(args[1]), Integer.parseInt(args[2]));
            return;
        }
        Bench.printReport(args, "steps,memory", 4, MethodSteps::run);
    }

    /** Runs the named cases (steps, memory) and returns the report lines. */
    static List<String> run(String cases, int rounds, boolean tiny) throws Exception {
        Bench.gradOff();
        MethodSteps bench = new MethodSteps(tiny);
        List<String> out = new ArrayList<>();
        out.add(
                "Per-method figures, "
                        + (tiny ? "TINY random BERT (smoke run)" : "all-MiniLM-L6-v2")
                        + ", train batch "
                        + bench.shapes.trainBatch()
                        + " x "
                        + bench.shapes.seq()
                        + "; "
                        + Bench.machine());
        List<String> wanted = List.of(cases.split(","));
        if (wanted.contains("steps")) {
            out.addAll(bench.steps(rounds));
        }
        if (wanted.contains("memory")) {
            out.addAll(bench.memory());
        }
        return out;
    }

    static Setting setting(String key) {
        return SETTINGS.stream()
                .filter(s -> s.key().equals(key))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown setting '" + key + "'"));
    }

    Trainee trainee(Setting s) {
        Model model = shapes.newModel();
        if (s.method() == null) {
            Map<String, Parameter> chosen = new LinkedHashMap<>();
            ((BertModel) model.getBlock())
                    .namedParameters()
                    .forEach(
                            (name, p) -> {
                                if (s.targets().stream()
                                        .anyMatch(t -> name.endsWith("." + t + ".weight"))) {
                                    chosen.put(name, p);
                                }
                            });
            return Trainee.full(s.label(), model, chosen);
        }
        AdapterConfig config =
                Methods.config(
                        Methods.find(s.method()),
                        8,
                        16f,
                        0f,
                        s.targets(),
                        List.of(),
                        "FEATURE_EXTRACTION",
                        List.of(),
                        warning -> {});
        return Trainee.adapted(s.label(), model, config);
    }

    double step(Trainee t, NDManager manager, long[] ids) {
        return MiniLmLoraFigures.trainStep(t, manager, ids, shapes.trainBatch(), shapes.seq());
    }

    // ---------------------------------------------------------------- step times

    List<String> steps(int rounds) {
        int n = SETTINGS.size();
        long[] ids =
                Bench.randomIds(shapes.trainBatch(), shapes.seq(), shapes.config().vocabSize(), 7);
        List<Trainee> trainees = new ArrayList<>();
        try (NDManager manager = NDManager.newBaseManager()) {
            for (Setting s : SETTINGS) {
                trainees.add(trainee(s));
            }
            for (Trainee t : trainees) {
                step(
                        t, manager,
                        ids); // warm-up: the first step allocates optimiser state (and LIFT's
                // masks)
            }
            double[][] seconds = new double[n][rounds];
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < n; i++) {
                    int k = (i + r) % n; // rotate the order so no method always runs first or after
                    // the same one
                    seconds[k][r] = step(trainees.get(k), manager, ids);
                }
            }
            List<String> out = new ArrayList<>();
            out.add(
                    String.format(
                            Locale.ROOT,
                            "train step per method, %d rounds (order rotated each round):",
                            rounds));
            for (int i = 0; i < n; i++) {
                double[] ratio = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    ratio[r] = seconds[i][r] / seconds[0][r];
                }
                String key = SETTINGS.get(i).key();
                String goal = key.equals("lift") || key.equals("mos") ? "   (goal <= 1.3)" : "";
                out.add(
                        String.format(
                                Locale.ROOT,
                                "  %-28s %,11d trainable  %7.0f ms  / LoRA: %s%s",
                                trainees.get(i).label,
                                trainees.get(i).trainableCount(),
                                Bench.median(seconds[i]) * 1e3,
                                i == 0 ? "1 (reference)" : Bench.summary(ratio),
                                goal));
            }
            return out;
        } finally {
            trainees.forEach(Trainee::close);
        }
    }

    // ---------------------------------------------------------------- memory

    static final int MEMORY_STEPS = 3;

    List<String> memory() throws IOException, InterruptedException {
        List<String> out = new ArrayList<>();
        out.add(
                String.format(
                        Locale.ROOT,
                        "memory per method, %d train steps, one child JVM each "
                                + "(optimiser state bytes; peak RSS = VmHWM during training, reset after loading; above the loaded model):",
                        MEMORY_STEPS));
        for (Setting s : SETTINGS) {
            List<String> args =
                    new ArrayList<>(List.of("child", s.key(), String.valueOf(MEMORY_STEPS)));
            if (tiny) {
                args.add("--tiny");
            }
            long[] r = Bench.runChild(MethodSteps.class, args);
            out.add(
                    String.format(
                            Locale.ROOT,
                            "  %-28s state %,13d B   peak RSS %,10d KiB   above loaded %,10d KiB",
                            s.label(),
                            r[0],
                            r[1],
                            r[1] - r[2]));
            if (s.key().equals("lift")) {
                out.add(
                        String.format(
                                Locale.ROOT,
                                "    LIFT state / dense Adam's on the same matrices: %,d / %,d B = %.2f%%"
                                        + " (goal <= 6%%); masks (entry indices, not optimiser state) %,d B",
                                r[0],
                                r[3],
                                100.0 * r[0] / r[3],
                                r[4]));
            }
        }
        return out;
    }

    /** Prints {@code RESULT stateBytes peakKb loadedKb denseAdamBytes maskBytes}. */
    void child(Setting s, int steps) {
        Bench.gradOff();
        long[] ids =
                Bench.randomIds(shapes.trainBatch(), shapes.seq(), shapes.config().vocabSize(), 7);
        try (Trainee t = trainee(s);
                NDManager manager = NDManager.newBaseManager()) {
            long[] memory =
                    t.trainingMemory(
                            manager,
                            scope ->
                                    Bench.bertInputs(scope, ids, shapes.trainBatch(), shapes.seq()),
                            MiniLmLoraFigures.LEARNING_RATE,
                            steps);
            long dense = 0;
            long masks = 0;
            if (t.optimizer instanceof LiftOptimizer) {
                dense = ((LiftOptimizer) t.optimizer).denseAdamStateBytes();
                masks =
                        t.peft.adapter(t.peft.activeAdapter())
                                .as(LiftAdapter.class)
                                .map(LiftAdapter::maskBytes)
                                .orElse(0L);
            }
            System.out.println(
                    "RESULT "
                            + t.optimizer.stateBytes()
                            + " "
                            + memory[0]
                            + " "
                            + memory[1]
                            + " "
                            + dense
                            + " "
                            + masks);
        }
    }
}
