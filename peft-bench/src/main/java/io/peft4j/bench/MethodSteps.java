package io.peft4j.bench;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.BenchSetting;
import io.peft4j.core.spi.PeftMethod;
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
 * <p>The methods are those on the class path ({@link BenchMethods#all}), each at its main bench
 * setting ({@link PeftMethod#benchSettings}), built by {@link PeftMethod#config} as {@code peft4j
 * train} builds them, on query/value: at LoRA's budget (LoRA r=8, 73,728 trainable; MoS v=8, r=16
 * and LIFT r=8 at the same count; a setting on all linear layers is also put on query/value here,
 * so the budgets match). A setting on the attention projections runs on q/k/v (MASA S=2), one
 * without targets with its own modules (ShadowPEFT). Last, dense AdamW on the query/value weights:
 * the baseline each method's optimiser state on those same matrices is compared with.
 *
 * <p>Usage: {@code MethodSteps [cases=steps,memory] [rounds=4] [--tiny]}; {@code --tiny} is a
 * random 4-layer BERT at batch 2 x 8 (the CI smoke run).
 */
public final class MethodSteps {

    /**
     * One trained setting: a key, its label, the method and its bench setting (both null for dense
     * AdamW) and the modules it adapts.
     */
    record Setting(
            String key,
            String label,
            PeftMethod method,
            BenchSetting bench,
            List<String> targets) {}

    static final List<String> QV = List.of("query", "value");

    static final List<Setting> SETTINGS = settings();

    private static List<Setting> settings() {
        List<Setting> out = new ArrayList<>();
        for (PeftMethod m : BenchMethods.all()) {
            BenchSetting b = m.benchSettings().get(0);
            List<String> targets =
                    switch (b.targets()) {
                        case ATTENTION -> List.of("query", "key", "value");
                        case NONE -> List.of();
                        case ADAPTER, ALL_LINEAR -> QV;
                    };
            String where =
                    targets.isEmpty()
                            ? ""
                            : " "
                                    + String.join(
                                            "/",
                                            targets.stream().map(t -> t.substring(0, 1)).toList());
            out.add(new Setting(b.key(), b.label() + where, m, b, targets));
        }
        out.add(new Setting("dense-qv", "dense AdamW on q/v weights", null, null, QV));
        return List.copyOf(out);
    }

    private final boolean tiny;

    /** The model and shapes (MiniLM or the tiny BERT), shared with MiniLmLoraFigures's figures. */
    private final MiniLmLoraFigures shapes;

    private MethodSteps(boolean tiny) {
        this.tiny = tiny;
        this.shapes = new MiniLmLoraFigures(tiny, 1);
    }

    public static void main(String[] args) throws Exception {
        // first thing: MKL's fast path on AMD CPUs (the library never installs it)
        io.peft4j.core.engine.MklCpuDispatch.install();
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
                BenchMethods.config(s.method(), s.bench(), s.targets(), 0f, "FEATURE_EXTRACTION");
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
                out.add(
                        String.format(
                                Locale.ROOT,
                                "  %-28s %,11d trainable  %7.0f ms  / LoRA: %s",
                                trainees.get(i).label(),
                                trainees.get(i).trainableCount(),
                                Bench.median(seconds[i]) * 1e3,
                                i == 0 ? "1 (reference)" : Bench.summary(ratio)));
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
        Map<Setting, long[]> results = new LinkedHashMap<>();
        for (Setting s : SETTINGS) {
            List<String> args =
                    new ArrayList<>(List.of("child", s.key(), String.valueOf(MEMORY_STEPS)));
            if (tiny) {
                args.add("--tiny");
            }
            long[] r = Bench.runChild(MethodSteps.class, args);
            results.put(s, r);
            out.add(
                    String.format(
                            Locale.ROOT,
                            "  %-28s state %,13d B   peak RSS %,10d KiB   above loaded %,10d KiB",
                            s.label(),
                            r[0],
                            r[1],
                            r[1] - r[2]));
        }
        long dense = results.get(SETTINGS.get(SETTINGS.size() - 1))[0];
        results.forEach(
                (s, r) -> {
                    if (s.method() != null && s.targets().equals(QV)) {
                        out.add(
                                String.format(
                                        Locale.ROOT,
                                        "    %s state / dense Adam's on the same matrices: %,d / %,d B = %.2f%%;"
                                                + " adapter's frozen state (e.g. LIFT's masks; not optimiser state) %,d B",
                                        s.method().displayName(),
                                        r[0],
                                        dense,
                                        100.0 * r[0] / dense,
                                        r[3]));
                    }
                });
        return out;
    }

    /** Prints {@code RESULT stateBytes peakKb loadedKb frozenStateBytes}. */
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
            long frozen = 0;
            if (t.peft() != null) {
                for (NDArray a :
                        t.peft().adapter(t.peft().activeAdapter()).frozenState().values()) {
                    frozen += a.size() * a.getDataType().getNumOfBytes();
                }
            }
            System.out.println(
                    "RESULT "
                            + t.optimizer().stateBytes()
                            + " "
                            + memory[0]
                            + " "
                            + memory[1]
                            + " "
                            + frozen);
        }
    }
}
