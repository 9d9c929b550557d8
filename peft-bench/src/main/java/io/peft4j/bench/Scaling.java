package io.peft4j.bench;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.models.LlamaConfig;
import io.peft4j.models.LlamaForCausalLM;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;

/**
 * The scaling study: train-step time and training memory of LoRA (r=8, q_proj/v_proj) and of full
 * fine-tuning (every parameter, AdamW) on random-weight LLaMA configs, as one of hidden size,
 * layers and sequence length grows with the others at the base, with the log-log slope of each
 * measure over each sweep. Step times are measured side by side in this process (rounds alternate
 * the order; the ratio is the median of per-round ratios); memory runs one child JVM per (point,
 * kind), since peak RSS is per process. A point shared by several sweeps (the base) is measured
 * once.
 *
 * <p>Usage: {@code Scaling [sweeps=hidden,layers,seq] [rounds=3] [--tiny]}; a sweep takes chosen
 * values as {@code hidden=128/512/2048}; {@code --tiny} uses toy sizes and is the CI smoke run.
 */
public final class Scaling {

    static final List<String> AXES = List.of("hidden", "layers", "seq");
    private static final float LEARNING_RATE = 1e-5f;
    private static final long SEED = 17;
    private static final int MEMORY_STEPS = 2;

    /** One model and input size. */
    record Point(int hidden, int layers, int seq) {

        int get(String axis) {
            switch (axis) {
                case "hidden":
                    return hidden;
                case "layers":
                    return layers;
                case "seq":
                    return seq;
                default:
                    throw new IllegalArgumentException(
                            "unknown axis '" + axis + "', expected one of " + AXES);
            }
        }

        Point with(String axis, int value) {
            switch (axis) {
                case "hidden":
                    return new Point(value, layers, seq);
                case "layers":
                    return new Point(hidden, value, seq);
                case "seq":
                    return new Point(hidden, layers, value);
                default:
                    throw new IllegalArgumentException(
                            "unknown axis '" + axis + "', expected one of " + AXES);
            }
        }
    }

    /**
     * The figures of one point; times in seconds per step, memory in KiB, optimiser state in bytes.
     */
    record Result(
            Point point,
            long loraTrainable,
            long fullTrainable,
            double[] loraS,
            double[] fullS,
            double[] ratio,
            long loraOptBytes,
            long fullOptBytes,
            long loraTrainKb,
            long fullTrainKb,
            boolean peakReset) {

        double loraMs() {
            return Bench.median(loraS) * 1e3;
        }

        double fullMs() {
            return Bench.median(fullS) * 1e3;
        }
    }

    /** Every sweep's results (in sweep order) and the report lines. */
    record Study(Map<String, List<Result>> sweeps, List<String> lines) {}

    /** The measures a slope is fitted to, with how each is read off a result. */
    private static final Map<String, ToDoubleFunction<Result>> MEASURES = measures();

    private static Map<String, ToDoubleFunction<Result>> measures() {
        Map<String, ToDoubleFunction<Result>> m = new LinkedHashMap<>();
        m.put("LoRA step time", Result::loraMs);
        m.put("full step time", Result::fullMs);
        m.put("LoRA train memory", r -> r.loraTrainKb);
        m.put("full train memory", r -> r.fullTrainKb);
        return m;
    }

    private final boolean tiny;
    private final int rounds;
    private final int batch;
    private final int vocab;
    private final Point base;
    private final Map<Point, Result> measured = new LinkedHashMap<>();

    /**
     * This process's RSS after each point, in KiB: closing everything per point keeps it from
     * climbing.
     */
    private final Map<Point, Long> rssAfter = new LinkedHashMap<>();

    private Scaling(boolean tiny, int rounds) {
        if (rounds < 1) {
            throw new IllegalArgumentException("rounds must be >= 1, got " + rounds);
        }
        this.tiny = tiny;
        this.rounds = rounds;
        this.batch = tiny ? 2 : 4;
        this.vocab = tiny ? 64 : 1024;
        this.base = tiny ? new Point(16, 1, 8) : new Point(256, 4, 128);
    }

    /**
     * One sweep from its command-line spec: {@code axis} for the default values, or {@code
     * axis=v1/v2/...} for chosen ones (e.g. {@code hidden=128/512}).
     *
     * @throws IllegalArgumentException for an unknown axis or a value that is not a positive
     *     integer
     */
    Map.Entry<String, int[]> sweep(String spec) {
        int eq = spec.indexOf('=');
        String axis = eq < 0 ? spec.trim() : spec.substring(0, eq).trim();
        int[] defaults = values(axis);
        if (eq < 0) {
            return Map.entry(axis, defaults);
        }
        String[] parts = spec.substring(eq + 1).split("/");
        int[] chosen = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            String v = parts[i].trim();
            if (!v.matches("[1-9][0-9]{0,8}")) {
                throw new IllegalArgumentException(
                        "sweep '" + spec + "': '" + v + "' is not a positive integer");
            }
            chosen[i] = Integer.parseInt(v);
        }
        return Map.entry(axis, chosen);
    }

    /** The default values of one sweep; the base value is among them. */
    int[] values(String axis) {
        switch (axis) {
            case "hidden":
                return tiny ? new int[] {16, 32} : new int[] {128, 256, 512, 1024};
            case "layers":
                return tiny ? new int[] {1, 2} : new int[] {2, 4, 8, 16};
            case "seq":
                return tiny ? new int[] {8, 16} : new int[] {64, 128, 256, 512};
            default:
                throw new IllegalArgumentException(
                        "unknown sweep '" + axis + "', expected one of " + AXES);
        }
    }

    public static void main(String[] args) throws Exception {
        // first thing: MKL's fast path on AMD CPUs (the library never installs it)
        io.peft4j.core.engine.MklCpuDispatch.install();
        if (args.length > 0 && args[0].equals("child")) {
            child(args);
            return;
        }
        Bench.printReport(args, String.join(",", AXES), 3, Scaling::run);
    }

    /** Runs the named sweeps (comma separated) and returns the report lines. */
    static List<String> run(String sweeps, int rounds, boolean tiny)
            throws IOException, InterruptedException {
        return study(List.of(sweeps.split(",")), rounds, tiny).lines();
    }

    /**
     * Runs the given sweeps ({@code hidden}, {@code layers}, {@code seq}, each optionally with
     * {@code =v1/v2/...}) and returns their results and report.
     */
    static Study study(List<String> sweeps, int rounds, boolean tiny)
            throws IOException, InterruptedException {
        Bench.gradOff();
        // the load is taken at both ends: on a shared box it can change a lot within one run
        String machine = Bench.machine();
        Scaling bench = new Scaling(tiny, rounds);
        // every spec is checked before anything is measured
        Map<String, int[]> chosen = new LinkedHashMap<>();
        for (String spec : sweeps) {
            Map.Entry<String, int[]> sweep = bench.sweep(spec);
            if (chosen.put(sweep.getKey(), sweep.getValue()) != null) {
                throw new IllegalArgumentException(
                        "sweep '" + sweep.getKey() + "' is given twice: " + sweeps);
            }
        }
        Map<String, List<Result>> results = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> sweep : chosen.entrySet()) {
            List<Result> rs = new ArrayList<>();
            for (int v : sweep.getValue()) {
                rs.add(bench.measure(bench.base.with(sweep.getKey(), v)));
            }
            results.put(sweep.getKey(), rs);
        }
        List<String> lines = bench.report(results, machine);
        lines.add("loadavg at the end: " + Bench.loadavg());
        return new Study(results, lines);
    }

    // ---------------------------------------------------------------- models

    /**
     * LLaMA proportions: 64-wide heads, MLP 8/3 of hidden rounded to a multiple of 32, untied head.
     */
    LlamaConfig config(Point p) {
        int heads = Math.max(1, p.hidden() / 64);
        int mlp = Math.max(32, (int) Math.round(p.hidden() * 8 / 3.0 / 32) * 32);
        return LlamaConfig.builder()
                .vocabSize(vocab)
                .hiddenSize(p.hidden())
                .intermediateSize(mlp)
                .numHiddenLayers(p.layers())
                .numAttentionHeads(heads)
                .maxPositionEmbeddings(Math.max(2048, p.seq()))
                .build();
    }

    static AdapterConfig loraConfig() {
        return BenchMethods.lora("q_proj", "v_proj");
    }

    /**
     * A random model with the same weights for the same point (fixed seed), wrapped for LoRA or
     * full FT.
     */
    Trainee trainee(Point p, boolean lora) {
        Engine.getEngine("PyTorch").setRandomSeed((int) SEED);
        Model model = Model.newInstance("llama-" + p);
        LlamaForCausalLM block = new LlamaForCausalLM(config(p));
        block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(batch, p.seq()));
        model.setBlock(block);
        return lora
                ? Trainee.adapted("LoRA r=8 q/v", model, loraConfig())
                : Trainee.full("full fine-tuning", model, block.namedParameters());
    }

    Function<NDManager, NDList> inputs(Point p) {
        long[] ids = Bench.randomIds(batch, p.seq(), 0, vocab, SEED);
        return scope -> new NDList(scope.create(ids, new Shape(batch, p.seq())));
    }

    // ---------------------------------------------------------------- measuring

    Result measure(Point p) throws IOException, InterruptedException {
        Result known = measured.get(p);
        if (known != null) {
            return known;
        }
        double[] loraS = new double[rounds];
        double[] fullS = new double[rounds];
        double[] ratio = new double[rounds];
        long loraTrainable;
        long fullTrainable;
        long loraOpt;
        long fullOpt;
        Function<NDManager, NDList> in = inputs(p);
        try (Trainee adapted = trainee(p, true);
                Trainee full = trainee(p, false);
                NDManager manager = NDManager.newBaseManager()) {
            // warm-up: the first step allocates the AdamW moments and libtorch's kernels for these
            // shapes
            adapted.step(manager, in, LEARNING_RATE);
            full.step(manager, in, LEARNING_RATE);
            for (int r = 0; r < rounds; r++) {
                if (r % 2 == 0) {
                    loraS[r] = adapted.step(manager, in, LEARNING_RATE);
                    fullS[r] = full.step(manager, in, LEARNING_RATE);
                } else {
                    fullS[r] = full.step(manager, in, LEARNING_RATE);
                    loraS[r] = adapted.step(manager, in, LEARNING_RATE);
                }
                ratio[r] = loraS[r] / fullS[r];
            }
            loraTrainable = adapted.trainableCount();
            fullTrainable = full.trainableCount();
            loraOpt = adapted.optimizer().stateBytes();
            fullOpt = full.optimizer().stateBytes();
        }
        long[] loraMem = runChild(p, "lora");
        long[] fullMem = runChild(p, "full");
        Result r =
                new Result(
                        p,
                        loraTrainable,
                        fullTrainable,
                        loraS,
                        fullS,
                        ratio,
                        loraOpt,
                        fullOpt,
                        loraMem[0] - loraMem[1],
                        fullMem[0] - fullMem[1],
                        loraMem[2] == 1 && fullMem[2] == 1);
        measured.put(p, r);
        rssAfter.put(p, Bench.rssKb());
        return r;
    }

    /**
     * {VmHWM KiB, VmRSS after building KiB, 1 if the peak was reset after building} of a child's
     * training.
     */
    long[] runChild(Point p, String kind) throws IOException, InterruptedException {
        return Bench.runChild(
                Scaling.class,
                List.of(
                        "child",
                        kind,
                        String.valueOf(p.hidden()),
                        String.valueOf(p.layers()),
                        String.valueOf(p.seq()),
                        String.valueOf(tiny)));
    }

    /**
     * Child mode: {@code child lora|full hidden layers seq tiny}; builds the model, trains {@value
     * #MEMORY_STEPS} steps.
     */
    static void child(String[] args) {
        if (args.length != 6 || !List.of("lora", "full").contains(args[1])) {
            throw new IllegalArgumentException(
                    "usage: Scaling child lora|full hidden layers seq tiny, got "
                            + Arrays.toString(args));
        }
        Bench.gradOff();
        Scaling bench = new Scaling(Boolean.parseBoolean(args[5]), 1);
        Point p =
                new Point(
                        Integer.parseInt(args[2]),
                        Integer.parseInt(args[3]),
                        Integer.parseInt(args[4]));
        Function<NDManager, NDList> in = bench.inputs(p);
        try (Trainee t = bench.trainee(p, args[1].equals("lora"));
                NDManager manager = NDManager.newBaseManager()) {
            long[] memory = t.trainingMemory(manager, in, LEARNING_RATE, MEMORY_STEPS);
            System.out.println("RESULT " + memory[0] + " " + memory[1] + " " + memory[2]);
        }
    }

    // ---------------------------------------------------------------- slopes and report

    /**
     * Least-squares slope of log(y) against log(x): the exponent b of y ~ a·x^b.
     *
     * @throws IllegalArgumentException if the arrays differ in length, hold fewer than 2 points, a
     *     value is not positive and finite, or all x are equal
     */
    static double logLogSlope(double[] x, double[] y) {
        if (x.length != y.length || x.length < 2) {
            throw new IllegalArgumentException(
                    "need >= 2 (x, y) pairs of equal count, got "
                            + x.length
                            + " x and "
                            + y.length
                            + " y");
        }
        double[] lx = logs(x, "x");
        double[] ly = logs(y, "y");
        double mx = Arrays.stream(lx).average().orElseThrow();
        double my = Arrays.stream(ly).average().orElseThrow();
        double sxy = 0;
        double sxx = 0;
        for (int i = 0; i < lx.length; i++) {
            sxy += (lx[i] - mx) * (ly[i] - my);
            sxx += (lx[i] - mx) * (lx[i] - mx);
        }
        if (sxx == 0) {
            throw new IllegalArgumentException("all x are equal (" + x[0] + "): no slope");
        }
        return sxy / sxx;
    }

    private static double[] logs(double[] v, String name) {
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            if (!(v[i] > 0) || Double.isInfinite(v[i])) {
                throw new IllegalArgumentException(
                        name
                                + "["
                                + i
                                + "] = "
                                + v[i]
                                + ": a log-log fit needs positive finite values");
            }
            out[i] = Math.log(v[i]);
        }
        return out;
    }

    List<String> report(Map<String, List<Result>> results, String machine) {
        List<String> out = new ArrayList<>();
        LlamaConfig c = config(base);
        out.add(
                String.format(
                        Locale.ROOT,
                        "Scaling%s: random LLaMA (heads hidden/64, mlp ~8/3 hidden,"
                                + " vocab %d, untied), batch %d; base hidden %d, layers %d, seq %d; LoRA r=8 alpha 16 q_proj/v_proj"
                                + " vs full FT of every parameter, AdamW; %d rounds alternating; %s",
                        tiny ? " TINY smoke run" : "",
                        c.vocabSize(),
                        batch,
                        base.hidden(),
                        base.layers(),
                        base.seq(),
                        rounds,
                        machine));
        boolean allReset =
                results.values().stream().flatMap(List::stream).allMatch(Result::peakReset);
        out.add(
                "train memory = peak RSS (VmHWM"
                        + (allReset
                                ? ", reset after building"
                                : ", NOT reset: may include the build")
                        + ") of a child JVM running "
                        + MEMORY_STEPS
                        + " train steps, minus its RSS after building the model");
        for (Map.Entry<String, List<Result>> e : results.entrySet()) {
            String axis = e.getKey();
            List<Result> rs = e.getValue();
            List<String> others = new ArrayList<>();
            for (String a : AXES) {
                if (!a.equals(axis)) {
                    others.add(a + " " + base.get(a));
                }
            }
            out.add("sweep " + axis + " (" + String.join(", ", others) + "):");
            out.add(
                    String.format(
                            Locale.ROOT,
                            "  %6s %9s %9s %9s  %-36s %9s %9s %9s %9s",
                            axis,
                            "params M",
                            "LoRA ms",
                            "full ms",
                            "LoRA/full step",
                            "LoRA MiB",
                            "full MiB",
                            "optL MiB",
                            "optF MiB"));
            for (Result r : rs) {
                out.add(
                        String.format(
                                Locale.ROOT,
                                "  %6d %9.2f %9.1f %9.1f  %-36s %9.1f %9.1f %9.2f %9.1f",
                                r.point().get(axis),
                                r.fullTrainable() / 1e6,
                                r.loraMs(),
                                r.fullMs(),
                                Bench.summary(r.ratio()),
                                r.loraTrainKb() / 1024.0,
                                r.fullTrainKb() / 1024.0,
                                r.loraOptBytes() / 1048576.0,
                                r.fullOptBytes() / 1048576.0));
            }
            double[] x = rs.stream().mapToDouble(r -> r.point().get(axis)).toArray();
            for (Map.Entry<String, ToDoubleFunction<Result>> m : MEASURES.entrySet()) {
                double[] y = rs.stream().mapToDouble(m.getValue()).toArray();
                boolean fits = x.length >= 2 && Arrays.stream(y).allMatch(v -> v > 0);
                out.add(
                        String.format(
                                Locale.ROOT,
                                "  slope %-18s ~ %s^%s",
                                m.getKey(),
                                axis,
                                fits
                                        ? String.format(Locale.ROOT, "%.2f", logLogSlope(x, y))
                                        : "n/a (fewer than 2 points or a value <= 0)"));
            }
        }
        List<String> rss = new ArrayList<>();
        rssAfter.forEach(
                (p, kb) ->
                        rss.add(p.hidden() + "/" + p.layers() + "/" + p.seq() + " " + kb / 1024));
        out.add(
                "RSS of this process after each point, in measuring order (hidden/layers/seq MiB): "
                        + String.join(", ", rss));
        return out;
    }
}
