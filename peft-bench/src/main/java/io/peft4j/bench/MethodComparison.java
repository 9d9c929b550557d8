package io.peft4j.bench;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.io.AtomicFiles;
import io.peft4j.core.spi.BenchSetting;
import io.peft4j.core.spi.PeftMethod;
import io.peft4j.examples.cli.Peft4j;
import io.peft4j.tasks.DataReaders;
import io.peft4j.tasks.LabeledText;
import io.peft4j.tasks.TextExample;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * The project's own version of the papers' tables: every method on MiniLM + SST-2 (accuracy) and
 * stories260K + tinyshakespeare (held-out NLL), through the {@code peft4j train} command, over
 * several seeds, each at a learning rate chosen for it on a validation split.
 *
 * <p>Protocol. The data are split once: the test split is SST-2's dev set (the labelled split the
 * papers report) and tinyshakespeare's last 10%; the validation split is carved from the training
 * data only (a fixed random {@code --val-size} sentences of SST-2's train.tsv, left out of the
 * training pool; the last 10% of tinyshakespeare's first 90%). Phase 1 trains each method at each
 * rate of its small grid with the first seed and scores it on the validation split; phase 2 trains
 * each method at its best validation rate with every seed and scores it on the test split. Every
 * finished run is one JSON file under {@code out/method-comparison/} (and one line on stdout; logs
 * go to stderr); a run whose file exists with the same steps and training size is not repeated, so
 * an interrupted comparison continues where it stopped. {@code results/method-comparison.md} and
 * the chart are regenerated from those files.
 *
 * <p>Usage: {@code MethodComparison [--shared DIR] [--out DIR] [--work DIR] [--steps N]
 * [--train-limit N] [--tasks sst2,shakespeare] [--methods lora,lora64,...] [--seeds 42,43,44]
 * [--lrs a,b,c] [--val-size N] [--report-only]}. {@code --lrs} replaces every method's grid (the
 * smoke test's tiny runs); {@code --report-only} only rewrites the table and chart from the files.
 */
public final class MethodComparison {

    /** Where the per-run JSON files live, under the results folder. */
    static final String RUNS = "method-comparison";

    private static final Gson GSON =
            new GsonBuilder().disableHtmlEscaping().serializeSpecialFloatingPointValues().create();

    /**
     * One method setting: the key {@code --methods} selects it by, a label, the train options that
     * select it, and its learning-rate grid (small to large; the middle one is the usual rate).
     */
    record Setting(String key, String label, List<String> args, List<String> lrGrid) {}

    /**
     * What to run.
     *
     * @param shared the folder with models/ and data/
     * @param out the results folder (run files, table, chart)
     * @param work the scratch folder for data splits and adapter folders
     * @param steps optimiser steps per run, by task
     * @param trainLimit SST-2 training sentences per run (a seeded subset of the pool)
     * @param valSize SST-2 sentences carved from train.tsv as the validation split
     * @param tasks sst2 and/or shakespeare
     * @param methods the setting keys to run (null: all)
     * @param seeds the seeds of the test runs; the first also runs the grid
     * @param lrOverride a grid that replaces every setting's (null: their own)
     */
    record Plan(
            Path shared,
            Path out,
            Path work,
            Map<String, Integer> steps,
            int trainLimit,
            int valSize,
            List<String> tasks,
            List<String> methods,
            List<Long> seeds,
            List<String> lrOverride) {

        int steps(String task) {
            Integer n = steps.get(task);
            if (n == null) {
                throw new IllegalArgumentException("no --steps for task " + task);
            }
            return n;
        }

        /** Whether a run on file was made with this plan's steps and training size. */
        boolean matches(Run r) {
            return steps.containsKey(r.task())
                    && r.steps() == steps(r.task())
                    && (!r.task().equals("sst2") || r.trainLimit() == trainLimit);
        }

        List<String> grid(Setting s) {
            return lrOverride != null ? lrOverride : s.lrGrid();
        }

        boolean selected(Setting s) {
            return methods == null || methods.contains(s.key());
        }
    }

    /**
     * One finished (or diverged) run, as stored in its JSON file.
     *
     * @param task sst2 or shakespeare
     * @param setting the setting key
     * @param label the setting's label
     * @param phase "validation" (grid) or "test"
     * @param lr the learning rate as given on the command line
     * @param seed the run's seed
     * @param steps optimiser steps
     * @param trainLimit SST-2 training sentences (the same for every shakespeare run)
     * @param status "ok" or "diverged" (the loss went non-finite)
     * @param metric accuracy or nll
     * @param before the frozen base model's score on the run's held-out split
     * @param after the score after training (NaN when diverged)
     * @param trainable trainable parameters
     * @param optimizerBytes optimiser state bytes after the last step
     * @param secondsPerStep training seconds per step (under the machine's load at the time)
     */
    record Run(
            String task,
            String setting,
            String label,
            String phase,
            String lr,
            long seed,
            int steps,
            int trainLimit,
            String status,
            String metric,
            double before,
            double after,
            long trainable,
            long optimizerBytes,
            double secondsPerStep) {

        boolean ok() {
            return status.equals("ok");
        }
    }

    /** The data files of one task: training pool, validation and test splits. */
    record Splits(Path train, Path validation, Path test, String description) {}

    private MethodComparison() {}

    /**
     * Every bench setting of every method on the class path ({@link PeftMethod#benchSettings}),
     * LoRA's first, as {@code peft4j train} options for {@code task}.
     */
    static List<Setting> settings(String task) {
        boolean sst2 = task.equals("sst2");
        String taskType = sst2 ? "SEQ_CLS" : "CAUSAL_LM";
        List<Setting> s = new ArrayList<>();
        for (PeftMethod m : BenchMethods.all()) {
            for (BenchSetting b : m.benchSettings()) {
                if (b.key().equals("lora64") && !sst2) {
                    continue; // MoS's precondition, at the deepest model here (MiniLM) only
                }
                List<String> args = new ArrayList<>(List.of("--method", m.names().get(0)));
                args.addAll(List.of("--rank", String.valueOf(b.rank())));
                args.addAll(List.of("--alpha", number(b.alpha())));
                String targets =
                        switch (b.targets()) {
                            case ADAPTER -> sst2 ? "query,value" : "all-linear";
                            case ATTENTION -> sst2 ? "query,key,value" : "q_proj,k_proj,v_proj";
                            case ALL_LINEAR -> "all-linear";
                            case NONE -> null;
                        };
                if (targets != null) {
                    args.addAll(List.of("--targets", targets));
                }
                b.overrides().forEach((k, v) -> args.addAll(List.of("--set", k + "=" + v)));
                double base = Double.parseDouble(taskLr(task)) * b.learningRateScale(taskType);
                s.add(new Setting(b.key(), b.label(), List.copyOf(args), grid(base)));
            }
        }
        return s;
    }

    /**
     * The learning-rate grid from a method's bench rate: that rate, 3x and 10x (40-step runs favour
     * the upper end of the usual rates); a best rate at the grid's edge gets one more rate outwards
     * before the seeds run.
     */
    static List<String> grid(double base) {
        return List.of(rate(base), rate(3 * base), rate(10 * base));
    }

    /** A learning rate as the run files name it: {@code 3e-3}, {@code 1e-2}. */
    static String rate(double x) {
        String sci = String.format(Locale.ROOT, "%.2e", x);
        int e = sci.indexOf('e');
        String mantissa = sci.substring(0, e).replaceAll("\\.?0+$", "");
        return mantissa + "e" + Integer.parseInt(sci.substring(e + 1));
    }

    /** {@code 16}, {@code 0.5}, {@code 1e-4}: short, and free of float noise (1e-3 x 0.1). */
    static String number(double x) {
        if (x == Math.rint(x) && Math.abs(x) < 1e6) {
            return String.valueOf((long) x);
        }
        if (Math.abs(x) >= 0.01) {
            return new java.math.BigDecimal(x)
                    .round(new java.math.MathContext(3))
                    .stripTrailingZeros()
                    .toPlainString();
        }
        return rate(x);
    }

    static String taskLr(String task) {
        return task.equals("sst2") ? "1e-3" : "2e-3";
    }

    static List<String> taskArgs(String task, Splits splits, Path held, int steps, int trainLimit) {
        if (task.equals("sst2")) {
            return List.of(
                    "--model",
                    "models/all-minilm-l6-v2",
                    "--task",
                    "classify",
                    "--train",
                    splits.train().toString(),
                    "--train-limit",
                    String.valueOf(trainLimit),
                    "--dev",
                    held.toString(),
                    "--max-length",
                    "64",
                    "--batch-size",
                    "16",
                    "--steps",
                    String.valueOf(steps),
                    "--modules-to-save",
                    "classifier");
        }
        return List.of(
                "--model",
                "models/stories260K",
                "--task",
                "causal-lm",
                "--train",
                splits.train().toString(),
                "--dev",
                held.toString(),
                "--max-length",
                "128",
                "--batch-size",
                "8",
                "--steps",
                String.valueOf(steps));
    }

    /**
     * Runs the comparison; see the class comment for the arguments.
     *
     * @param args the arguments
     * @throws IOException if a data or results file cannot be read or written
     */
    public static void main(String[] args) throws IOException {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        Path shared = Paths.get("../shared");
        Path out = Paths.get("results");
        Path work = Paths.get(System.getProperty("java.io.tmpdir"), "peft4j-method-comparison");
        Map<String, Integer> steps = new LinkedHashMap<>(Map.of("shakespeare", 40, "sst2", 40));
        int trainLimit = 640;
        int valSize = 300;
        List<String> tasks = List.of("sst2", "shakespeare");
        List<String> methods = null;
        List<Long> seeds = List.of(42L, 43L, 44L);
        List<String> lrs = null;
        boolean reportOnly = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--shared" -> shared = Paths.get(args[++i]);
                case "--out" -> out = Paths.get(args[++i]);
                case "--work" -> work = Paths.get(args[++i]);
                case "--steps" -> {
                    // N for every task, or task=N,task=N
                    for (String part : args[++i].split(",")) {
                        int eq = part.indexOf('=');
                        if (eq < 0) {
                            steps.replaceAll((k, v) -> Integer.parseInt(part));
                        } else {
                            steps.put(
                                    part.substring(0, eq),
                                    Integer.parseInt(part.substring(eq + 1)));
                        }
                    }
                }
                case "--train-limit" -> trainLimit = Integer.parseInt(args[++i]);
                case "--val-size" -> valSize = Integer.parseInt(args[++i]);
                case "--tasks" -> tasks = List.of(args[++i].split(","));
                case "--methods" -> methods = List.of(args[++i].split(","));
                case "--seeds" ->
                        seeds = Stream.of(args[++i].split(",")).map(Long::valueOf).toList();
                case "--lrs" -> lrs = List.of(args[++i].split(","));
                case "--report-only" -> reportOnly = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Plan plan =
                new Plan(shared, out, work, steps, trainLimit, valSize, tasks, methods, seeds, lrs);
        if (!reportOnly) {
            run(plan);
        }
        List<Run> runs = load(plan);
        // the command that made the runs: a --report-only rewrite quotes the training command
        String command =
                Stream.concat(
                                Stream.of("MethodComparison"),
                                Stream.of(args).filter(a -> !a.equals("--report-only")))
                        .collect(Collectors.joining(" "));
        write(out, runs, plan, command);
        System.err.println(
                "Wrote "
                        + out.resolve("method-comparison.md")
                        + " and "
                        + out.resolve("method-comparison.png"));
    }

    /**
     * Runs the grid on the validation split with the first seed, then every selected setting at its
     * chosen rate with every seed on the test split; runs already on file are not repeated.
     *
     * @param plan what to run
     * @return every run of this plan's tasks and settings, read back from their files
     * @throws IOException if a file cannot be read or written
     */
    static List<Run> run(Plan plan) throws IOException {
        Map<String, Splits> splits = new LinkedHashMap<>();
        for (String task : plan.tasks()) {
            splits.put(task, splits(task, plan));
        }
        long gridSeed = plan.seeds().get(0);
        // task by task, each seed by seed: an interrupted comparison has the first tasks whole and
        // every method of the next at its first seeds
        for (String task : plan.tasks()) {
            for (Setting s : settings(task)) {
                if (!plan.selected(s)) {
                    continue;
                }
                List<String> rates = new ArrayList<>(plan.grid(s));
                for (String lr : rates) {
                    runOnce(plan, task, s, splits.get(task), "validation", lr, gridSeed);
                }
                // a best rate at the grid's edge may not be the optimum: one more step outwards
                Optional<Run> chosen = best(gridRuns(plan, task, s));
                if (chosen.isPresent() && rates.size() > 1) {
                    String edge = null;
                    if (chosen.get().lr().equals(rates.get(rates.size() - 1))) {
                        edge = neighbourRate(chosen.get().lr(), true);
                    } else if (chosen.get().lr().equals(rates.get(0))) {
                        edge = neighbourRate(chosen.get().lr(), false);
                    }
                    if (edge != null) {
                        rates.add(edge);
                        runOnce(plan, task, s, splits.get(task), "validation", edge, gridSeed);
                        chosen = best(gridRuns(plan, task, s));
                    }
                }
                // the grid's run at the chosen rate is the first seed's test run: the same
                // training (the held-out split plays no part in it), scored on the test split
                if (chosen.isPresent()) {
                    scoreOnTest(plan, task, s, splits.get(task), chosen.get());
                }
                for (String lr : rates) {
                    deleteTree(runDir(plan, task, s, "validation", lr, gridSeed));
                }
            }
            for (long seed : plan.seeds()) {
                for (Setting s : settings(task)) {
                    if (!plan.selected(s)) {
                        continue;
                    }
                    Optional<Run> best = best(gridRuns(plan, task, s));
                    if (best.isEmpty()) {
                        System.err.println(
                                "== " + task + " / " + s.label() + ": no rate trained; skipped");
                        continue;
                    }
                    runOnce(plan, task, s, splits.get(task), "test", best.get().lr(), seed);
                }
            }
        }
        return load(plan).stream().filter(r -> plan.tasks().contains(r.task())).toList();
    }

    /** The setting's validation runs on file: its grid and any step beyond the grid's edge. */
    private static List<Run> gridRuns(Plan plan, String task, Setting s) throws IOException {
        return load(plan).stream()
                .filter(
                        r ->
                                r.task().equals(task)
                                        && r.setting().equals(s.key())
                                        && r.phase().equals("validation"))
                .toList();
    }

    /**
     * The next rate of a 1-3-10 grid up or down ({@code 1e-2} -> {@code 3e-2} -> {@code 1e-1});
     * other mantissas step by 3x.
     */
    static String neighbourRate(String lr, boolean up) {
        java.math.BigDecimal v = new java.math.BigDecimal(lr);
        int exp = v.precision() - v.scale() - 1; // v = m * 10^exp, 1 <= m < 10
        double m = v.movePointLeft(exp).doubleValue();
        if (Math.abs(m - 1) < 1e-9) {
            return up ? "3e" + exp : "3e" + (exp - 1);
        }
        if (Math.abs(m - 3) < 1e-9) {
            return up ? "1e" + (exp + 1) : "1e" + exp;
        }
        return rate(up ? v.doubleValue() * 3 : v.doubleValue() / 3); // 6e-2, 6.67e-4
    }

    /** Trains one setting once (unless its file exists) and writes its run file. */
    private static void runOnce(
            Plan plan, String task, Setting s, Splits splits, String phase, String lr, long seed)
            throws IOException {
        Path file = runFile(plan, task, s, phase, lr, seed);
        if (Files.exists(file)) {
            Run old = read(file);
            if (plan.matches(old)) {
                return;
            }
        }
        Path dir = runDir(plan, task, s, phase, lr, seed);
        deleteTree(dir);
        Path held = phase.equals("test") ? splits.test() : splits.validation();
        List<String> cli = new ArrayList<>(List.of("train"));
        List<String> taskArgs = taskArgs(task, splits, held, plan.steps(task), plan.trainLimit());
        for (int i = 0; i < taskArgs.size(); i++) {
            String a = taskArgs.get(i);
            cli.add(
                    i > 0 && taskArgs.get(i - 1).equals("--model")
                            ? plan.shared().resolve(a).toString()
                            : a);
        }
        cli.addAll(s.args());
        cli.addAll(List.of("--lr", lr, "--seed", String.valueOf(seed), "--out", dir.toString()));
        System.err.printf(
                Locale.ROOT, "== %s / %s / %s lr %s seed %d%n", task, s.label(), phase, lr, seed);
        PrintStream stdout = System.out;
        int code;
        try {
            System.setOut(System.err); // the CLI's report is a log here; stdout carries the runs
            code = Peft4j.run(cli.toArray(new String[0]));
        } finally {
            System.setOut(stdout);
        }
        Path info = dir.resolve("training_run.json");
        Run run;
        if (code == 0 && Files.exists(info)) {
            JsonObject j = JsonParser.parseString(Files.readString(info)).getAsJsonObject();
            String metric = j.getAsJsonObject("after").has("accuracy") ? "accuracy" : "nll";
            run =
                    new Run(
                            task,
                            s.key(),
                            s.label(),
                            phase,
                            lr,
                            seed,
                            plan.steps(task),
                            plan.trainLimit(),
                            "ok",
                            metric,
                            j.getAsJsonObject("before").get(metric).getAsDouble(),
                            j.getAsJsonObject("after").get(metric).getAsDouble(),
                            j.get("trainable_parameters").getAsLong(),
                            j.has("optimizer_state_bytes")
                                    ? j.get("optimizer_state_bytes").getAsLong()
                                    : -1,
                            j.get("seconds").getAsDouble()
                                    / Math.max(1, j.get("steps").getAsLong()));
        } else if (code == Peft4j.DIVERGED) {
            // Peft4j's exit status for a non-finite loss: the rate is too high, a result in itself
            run =
                    new Run(
                            task,
                            s.key(),
                            s.label(),
                            phase,
                            lr,
                            seed,
                            plan.steps(task),
                            plan.trainLimit(),
                            "diverged",
                            task.equals("sst2") ? "accuracy" : "nll",
                            Double.NaN,
                            Double.NaN,
                            0,
                            0,
                            Double.NaN);
        } else {
            System.err.println("   (failed with exit code " + code + "; no run file)");
            return;
        }
        if (!phase.equals("validation")) {
            deleteTree(dir); // adapters of up to 43 MB each; the run file keeps the figures
        }
        save(file, run);
    }

    /** Runs {@code peft4j eval --json} in this process; its JSON, or null when it failed. */
    private static JsonObject eval(String... args) {
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        PrintStream stdout = System.out;
        List<String> cli = new ArrayList<>(List.of("eval"));
        cli.addAll(List.of(args));
        cli.add("--json");
        int code;
        try {
            System.setOut(new PrintStream(captured, true, java.nio.charset.StandardCharsets.UTF_8));
            code = Peft4j.run(cli.toArray(new String[0]));
        } finally {
            System.setOut(stdout);
        }
        String text = captured.toString(java.nio.charset.StandardCharsets.UTF_8).strip();
        int start = text.lastIndexOf("\n{") + 1;
        if (code != 0 || !text.substring(start).startsWith("{")) {
            System.err.println("   (eval failed with exit code " + code + "; the test run trains)");
            return null;
        }
        return JsonParser.parseString(text.substring(start)).getAsJsonObject();
    }

    private static Path runFile(
            Plan plan, String task, Setting s, String phase, String lr, long seed) {
        return plan.out()
                .resolve(RUNS)
                .resolve(task)
                .resolve(s.key())
                .resolve(phase + "-lr" + lr + "-seed" + seed + ".json");
    }

    private static Path runDir(
            Plan plan, String task, Setting s, String phase, String lr, long seed) {
        return plan.work()
                .resolve("runs")
                .resolve(task)
                .resolve(s.key())
                .resolve(phase + "-lr" + lr + "-seed" + seed);
    }

    private static void save(Path file, Run run) throws IOException {
        String json = toJson(run);
        Files.createDirectories(file.getParent());
        AtomicFiles.writeString(file, json + "\n");
        System.out.println(json);
    }

    /**
     * Scores the adapter of the chosen grid run on the test split ({@code peft4j eval}) and files
     * it as that seed's test run; without the adapter (a resumed comparison) the test run trains
     * afresh later.
     */
    private static void scoreOnTest(Plan plan, String task, Setting s, Splits splits, Run grid)
            throws IOException {
        Path file = runFile(plan, task, s, "test", grid.lr(), grid.seed());
        if (Files.exists(file) && plan.matches(read(file))) {
            return;
        }
        Path dir = runDir(plan, task, s, "validation", grid.lr(), grid.seed());
        if (!grid.ok() || !Files.exists(dir.resolve("training_run.json"))) {
            return;
        }
        System.err.printf(
                Locale.ROOT,
                "== %s / %s / test (the grid's run at lr %s, seed %d, scored on the test split)%n",
                task,
                s.label(),
                grid.lr(),
                grid.seed());
        String model =
                plan.shared()
                        .resolve(
                                task.equals("sst2")
                                        ? "models/all-minilm-l6-v2"
                                        : "models/stories260K")
                        .toString();
        String test = splits.test().toString();
        JsonObject j = eval("--model", model, "--adapter", dir.toString(), "--data", test);
        if (j == null) {
            return;
        }
        // the frozen base on the test split: the same for every test run of the task
        double before =
                load(plan).stream()
                        .filter(r -> r.task().equals(task) && r.phase().equals("test") && r.ok())
                        .mapToDouble(Run::before)
                        .filter(Double::isFinite)
                        .findFirst()
                        .orElse(Double.NaN);
        if (Double.isNaN(before)) {
            JsonObject base =
                    task.equals("sst2")
                            ? eval(
                                    "--model",
                                    model,
                                    "--data",
                                    test,
                                    "--task",
                                    "classify",
                                    "--num-labels",
                                    "2",
                                    "--max-length",
                                    "64")
                            : eval(
                                    "--model",
                                    model,
                                    "--data",
                                    test,
                                    "--task",
                                    "causal-lm",
                                    "--max-length",
                                    "128");
            if (base == null) {
                return;
            }
            before = base.get(grid.metric()).getAsDouble();
        }
        save(
                file,
                new Run(
                        task,
                        s.key(),
                        s.label(),
                        "test",
                        grid.lr(),
                        grid.seed(),
                        grid.steps(),
                        grid.trainLimit(),
                        "ok",
                        grid.metric(),
                        before,
                        j.get(grid.metric()).getAsDouble(),
                        grid.trainable(),
                        grid.optimizerBytes(),
                        grid.secondsPerStep()));
    }

    /**
     * The best rate of a grid: highest accuracy (ties: the smaller rate), lowest NLL; diverged runs
     * never win.
     */
    static Optional<Run> best(List<Run> grid) {
        Comparator<Run> byScore =
                Comparator.comparingDouble(
                        r -> r.metric().equals("accuracy") ? -r.after() : r.after());
        return grid.stream()
                .filter(Run::ok)
                .min(byScore.thenComparingDouble(r -> Double.parseDouble(r.lr())));
    }

    /** Writes (once) and returns the task's training pool, validation and test files. */
    static Splits splits(String task, Plan plan) throws IOException {
        Path dir = plan.work().resolve("data").resolve(task);
        Files.createDirectories(dir);
        if (task.equals("sst2")) {
            Path train = dir.resolve("train-pool.tsv");
            Path val = dir.resolve("validation-" + plan.valSize() + ".tsv");
            Path test = plan.shared().resolve("data/sst2/dev.tsv");
            if (!Files.exists(train) || !Files.exists(val)) {
                // a fixed shuffle, independent of the runs' seeds: the same split for every run
                List<LabeledText> all =
                        DataReaders.readLabeled(plan.shared().resolve("data/sst2/train.tsv"));
                if (plan.valSize() >= all.size()) {
                    throw new IllegalArgumentException(
                            "--val-size "
                                    + plan.valSize()
                                    + " leaves no training data: train.tsv has "
                                    + all.size()
                                    + " sentences");
                }
                List<LabeledText> shuffled = DataReaders.sample(all, all.size(), 20261204L);
                AtomicFiles.writeString(val, tsv(shuffled.subList(0, plan.valSize())));
                AtomicFiles.writeString(
                        train, tsv(shuffled.subList(plan.valSize(), shuffled.size())));
            }
            return new Splits(
                    train,
                    val,
                    test,
                    "SST-2: test = dev.tsv (872 sentences); validation = "
                            + plan.valSize()
                            + " sentences of train.tsv (a fixed shuffle) left out of the training"
                            + " pool; each run trains on a seeded subset of "
                            + plan.trainLimit()
                            + " sentences of the pool");
        }
        Path train = dir.resolve("train.txt");
        Path val = dir.resolve("validation.txt");
        Path test = dir.resolve("test.txt");
        if (!Files.exists(train) || !Files.exists(val) || !Files.exists(test)) {
            // test = the last 10% of the documents (what `peft4j train` holds out by default);
            // validation = the last 10% of the rest
            List<TextExample> docs =
                    DataReaders.readText(plan.shared().resolve("data/tinyshakespeare/input.txt"));
            List<List<TextExample>> outer = DataReaders.splitTail(docs, 0.1);
            List<List<TextExample>> inner = DataReaders.splitTail(outer.get(0), 0.1);
            AtomicFiles.writeString(train, text(inner.get(0)));
            AtomicFiles.writeString(val, text(inner.get(1)));
            AtomicFiles.writeString(test, text(outer.get(1)));
        }
        return new Splits(
                train,
                val,
                test,
                "tinyshakespeare: test = the last 10% of the documents (paragraphs), validation ="
                        + " the last 10% of the rest, training = the other 81%");
    }

    private static String tsv(List<LabeledText> rows) {
        StringBuilder b = new StringBuilder("sentence\tlabel\n");
        for (LabeledText r : rows) {
            b.append(r.text()).append('\t').append(r.label()).append('\n');
        }
        return b.toString();
    }

    private static String text(List<TextExample> docs) {
        // documents are paragraphs without blank lines: joined by one, they read back the same
        return docs.stream().map(TextExample::completion).collect(Collectors.joining("\n\n"))
                + "\n";
    }

    static String toJson(Run r) {
        JsonObject j = GSON.toJsonTree(r).getAsJsonObject();
        if (!r.ok()) {
            j.remove("before");
            j.remove("after");
            j.remove("secondsPerStep");
        }
        return GSON.toJson(j);
    }

    static Run read(Path file) throws IOException {
        JsonObject j = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        for (String k : List.of("before", "after", "secondsPerStep")) {
            if (!j.has(k)) {
                j.addProperty(k, Double.NaN);
            }
        }
        return GSON.fromJson(j, Run.class);
    }

    /**
     * Every run file under {@code out/method-comparison} made with the plan's steps and training
     * size.
     *
     * @param plan the plan
     * @return the runs, in file-name order
     * @throws IOException if a file cannot be read
     */
    static List<Run> load(Plan plan) throws IOException {
        Path root = plan.out().resolve(RUNS);
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        List<Path> files;
        try (Stream<Path> w = Files.walk(root)) {
            files = w.filter(p -> p.toString().endsWith(".json")).sorted().toList();
        }
        List<Run> runs = new ArrayList<>();
        for (Path f : files) {
            Run r = read(f);
            if (plan.matches(r)) {
                runs.add(r);
            }
        }
        return runs;
    }

    /** The test runs of one setting at its chosen rate, summarised. */
    record Summary(
            String task,
            String setting,
            String label,
            String metric,
            String lr,
            long trainable,
            long optimizerBytes,
            double before,
            double mean,
            double sd,
            int n,
            int diverged,
            double secondsPerStep) {}

    /** Per task and setting (in the settings' order): the test runs at the chosen rate. */
    static List<Summary> summarise(List<Run> runs) {
        List<Summary> out = new ArrayList<>();
        for (String task : runs.stream().map(Run::task).distinct().toList()) {
            for (Setting s : settings(task)) {
                List<Run> grid =
                        runs.stream()
                                .filter(
                                        r ->
                                                r.task().equals(task)
                                                        && r.setting().equals(s.key())
                                                        && r.phase().equals("validation"))
                                .toList();
                Optional<Run> best = best(grid);
                if (best.isEmpty()) {
                    continue;
                }
                String lr = best.get().lr();
                List<Run> tests =
                        runs.stream()
                                .filter(
                                        r ->
                                                r.task().equals(task)
                                                        && r.setting().equals(s.key())
                                                        && r.phase().equals("test")
                                                        && r.lr().equals(lr))
                                .toList();
                List<Run> ok = tests.stream().filter(Run::ok).toList();
                if (ok.isEmpty()) {
                    continue;
                }
                double[] v = ok.stream().mapToDouble(Run::after).toArray();
                out.add(
                        new Summary(
                                task,
                                s.key(),
                                s.label(),
                                ok.get(0).metric(),
                                lr,
                                ok.get(0).trainable(),
                                ok.get(0).optimizerBytes(),
                                ok.get(0).before(),
                                mean(v),
                                sd(v),
                                v.length,
                                tests.size() - ok.size(),
                                ok.stream().mapToDouble(Run::secondsPerStep).average().orElse(0)));
            }
        }
        return out;
    }

    static double mean(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s / v.length;
    }

    /** The sample standard deviation (n - 1); 0 for a single value. */
    static double sd(double[] v) {
        if (v.length < 2) {
            return 0;
        }
        double m = mean(v);
        double s = 0;
        for (double x : v) {
            s += (x - m) * (x - m);
        }
        return Math.sqrt(s / (v.length - 1));
    }

    /**
     * Writes {@code method-comparison.md} and {@code method-comparison.png} from the runs.
     *
     * @param out the results folder
     * @param runs the runs
     * @param plan the plan (for the description)
     * @param command the command line, quoted in the table's header
     * @throws IOException if a file cannot be written
     */
    static void write(Path out, List<Run> runs, Plan plan, String command) throws IOException {
        Files.createDirectories(out);
        List<Summary> rows = summarise(runs);
        StringBuilder md = new StringBuilder();
        md.append("# Method comparison\n\n");
        md.append(
                String.format(
                        Locale.ROOT,
                        "Written %s UTC by `peft-bench` `MethodComparison` from the %d run files in"
                                + " `%s/`, optimiser steps per run: %s (linear warm-up 6%%, linear"
                                + " decay; SST-2: MiniLM, batch 16, 64 tokens; tinyshakespeare:"
                                + " stories260K, batch 8 blocks of 128 tokens). Each method's"
                                + " learning rate is the best of its grid on a **validation split"
                                + " carved from the training data** (seed %d); then each method"
                                + " trains at that rate with seeds %s and is scored on the **test"
                                + " split**.%n%n",
                        DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm")
                                .withZone(ZoneOffset.UTC)
                                .format(Instant.now()),
                        runs.size(),
                        out.resolve(RUNS),
                        plan.tasks().stream()
                                .map(t -> t + " " + plan.steps(t))
                                .collect(Collectors.joining(", ")),
                        plan.seeds().get(0),
                        plan.seeds().stream()
                                .map(String::valueOf)
                                .collect(Collectors.joining(", "))));
        for (String task : plan.tasks()) {
            md.append("- ")
                    .append(
                            task.equals("sst2")
                                    ? "SST-2: test = dev.tsv (872 sentences); validation = "
                                            + plan.valSize()
                                            + " sentences of train.tsv (a fixed shuffle), left out"
                                            + " of the training pool; each run trains on a seeded"
                                            + " subset of "
                                            + plan.trainLimit()
                                            + " pool sentences (the seed also draws the subset)."
                                    : "tinyshakespeare: test = the last 10% of the documents"
                                            + " (paragraphs), as `peft4j train` holds out;"
                                            + " validation = the last 10% of the rest; training ="
                                            + " the other 81%.")
                    .append('\n');
        }
        md.append("\nCommand (the class path as in peft-bench's README):\n\n");
        md.append("```bash\njava -Dai.djl.offline=true -cp <peft-bench classpath> io.peft4j.bench.")
                .append(command)
                .append("\n```\n\n");
        md.append("## Test split, mean ± sd over the seeds\n\n");
        md.append(
                "| task | method | chosen lr | trainable params | optimiser state (bytes) |"
                        + " frozen base | after training (mean ± sd) | seeds | vs LoRA r=8 | s/step |\n");
        md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Summary r : rows) {
            Summary lora = lora(rows, r.task());
            String delta = "";
            if (lora != null && !r.setting().equals("lora")) {
                double d = r.mean() - lora.mean();
                delta =
                        String.format(Locale.ROOT, "%+.4f", d)
                                + (Math.abs(d) > r.sd() + lora.sd() ? " **>sd**" : "");
            }
            md.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %s | %s | %,d | %,d | %s %.4f | %.4f ± %.4f | %d%s | %s | %.3f |%n",
                            r.task(),
                            r.label(),
                            r.lr(),
                            r.trainable(),
                            r.optimizerBytes(),
                            r.metric().equals("accuracy") ? "accuracy" : "NLL",
                            r.before(),
                            r.mean(),
                            r.sd(),
                            r.n(),
                            r.diverged() > 0 ? " (+" + r.diverged() + " diverged)" : "",
                            delta,
                            r.secondsPerStep()));
        }
        md.append(
                "\nAccuracy: higher is better; NLL (nats/token): lower is better. `vs LoRA r=8`:"
                        + " difference of the means; **>sd** marks a difference larger than the two"
                        + " standard deviations added (the ±1 sd ranges do not overlap). s/step is"
                        + " wall time on the shared 2-core machine under other engineers' load:"
                        + " compare it only within one run.\n\n");
        md.append("## Learning-rate grid (validation split, seed ")
                .append(plan.seeds().get(0))
                .append(")\n\n");
        md.append("| task | method | learning rate: validation result |\n|---|---|---|\n");
        for (String task : runs.stream().map(Run::task).distinct().toList()) {
            for (Setting s : settings(task)) {
                List<Run> grid =
                        runs.stream()
                                .filter(
                                        r ->
                                                r.task().equals(task)
                                                        && r.setting().equals(s.key())
                                                        && r.phase().equals("validation"))
                                .sorted(Comparator.comparingDouble(r -> Double.parseDouble(r.lr())))
                                .toList();
                if (grid.isEmpty()) {
                    continue;
                }
                String chosen = best(grid).map(Run::lr).orElse("");
                md.append("| ").append(task).append(" | ").append(s.label()).append(" | ");
                md.append(
                        grid.stream()
                                .map(
                                        r -> {
                                            String v =
                                                    r.ok()
                                                            ? String.format(
                                                                    Locale.ROOT, "%.4f", r.after())
                                                            : "diverged";
                                            String cell = r.lr() + ": " + v;
                                            return r.lr().equals(chosen)
                                                    ? "**" + cell + "**"
                                                    : cell;
                                        })
                                .collect(Collectors.joining(", ")));
                // a rate at the end of the grid may not be the optimum: say so
                List<Run> okGrid = grid.stream().filter(Run::ok).toList();
                if (okGrid.size() > 1
                        && (chosen.equals(okGrid.get(0).lr())
                                || chosen.equals(grid.get(grid.size() - 1).lr()))) {
                    md.append(" (chosen rate at the grid's edge)");
                }
                md.append(" |\n");
            }
        }
        md.append(
                "\nBold: the chosen rate (best validation result; a run at another rate that reached the same"
                        + " result loses to the smaller rate). A chosen rate at the grid's edge"
                        + " means the best rate for this budget may lie beyond the grid.\n");
        Path reading = out.resolve(RUNS).resolve("READING.md");
        if (Files.exists(reading)) {
            md.append('\n').append(Files.readString(reading).strip()).append('\n');
        }
        AtomicFiles.writeString(out.resolve("method-comparison.md"), md.toString());
        BufferedImage chart = chart(rows);
        AtomicFiles.write(
                out.resolve("method-comparison.png"), o -> ImageIO.write(chart, "png", o));
    }

    private static Summary lora(List<Summary> rows, String task) {
        return rows.stream()
                .filter(r -> r.task().equals(task) && r.setting().equals("lora"))
                .findFirst()
                .orElse(null);
    }

    /**
     * Test result (mean, with ±1 sd bars) against trainable parameters (log scale), one panel per
     * task, the frozen base as a line.
     */
    static BufferedImage chart(List<Summary> rows) {
        List<String> tasks = rows.stream().map(Summary::task).distinct().toList();
        int panelW = 560;
        int h = 420;
        BufferedImage img =
                new BufferedImage(
                        Math.max(1, tasks.size()) * panelW, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), h);
        for (int t = 0; t < tasks.size(); t++) {
            String task = tasks.get(t);
            List<Summary> rs = rows.stream().filter(r -> r.task().equals(task)).toList();
            int x0 = t * panelW + 60;
            int y0 = h - 50;
            int w = panelW - 100;
            int ph = h - 100;
            double minX =
                    Math.log10(
                            (double)
                                    Math.max(
                                            1,
                                            rs.stream()
                                                    .mapToLong(Summary::trainable)
                                                    .min()
                                                    .orElse(1)));
            double maxX =
                    Math.log10(
                            (double)
                                    Math.max(
                                            10,
                                            rs.stream()
                                                    .mapToLong(Summary::trainable)
                                                    .max()
                                                    .orElse(10)));
            double minY =
                    rs.stream()
                            .mapToDouble(r -> Math.min(r.mean() - r.sd(), r.before()))
                            .min()
                            .orElse(0);
            double maxY =
                    rs.stream()
                            .mapToDouble(r -> Math.max(r.mean() + r.sd(), r.before()))
                            .max()
                            .orElse(1);
            if (maxX - minX < 1e-9) {
                maxX = minX + 1;
            }
            if (maxY - minY < 1e-9) {
                maxY = minY + 1;
            }
            double pad = (maxY - minY) * 0.05;
            minY -= pad;
            maxY += pad;
            g.setColor(Color.DARK_GRAY);
            g.setStroke(new BasicStroke(1));
            g.drawLine(x0, y0, x0 + w, y0);
            g.drawLine(x0, y0, x0, y0 - ph);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
            String metric =
                    rs.isEmpty()
                            ? ""
                            : rs.get(0).metric().equals("accuracy")
                                    ? "test accuracy (mean ± sd)"
                                    : "test NLL, lower is better (mean ± sd)";
            g.drawString(task + ": " + metric, x0, 25);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            g.drawString("trainable parameters (log scale)", x0 + w / 2 - 80, h - 15);
            g.drawString(String.format(Locale.ROOT, "%.3f", maxY), x0 - 50, y0 - ph + 4);
            g.drawString(String.format(Locale.ROOT, "%.3f", minY), x0 - 50, y0 + 4);
            // labels placed top to bottom, each moved down below any earlier one it would cover
            // (methods with the same trainable count and close results sit on one spot)
            List<int[]> placed = new ArrayList<>(); // {x, baseline y, width}
            List<Summary> byHeight = new ArrayList<>(rs);
            byHeight.sort(Comparator.comparingDouble(Summary::mean).reversed()); // top first
            java.awt.FontMetrics fm = g.getFontMetrics();
            for (Summary r : byHeight) {
                int px =
                        x0
                                + (int)
                                        ((Math.log10((double) Math.max(1, r.trainable())) - minX)
                                                / (maxX - minX)
                                                * w);
                int py = y(r.mean(), minY, maxY, y0, ph);
                g.setColor(new Color(30, 90, 170));
                g.drawLine(
                        px,
                        y(r.mean() - r.sd(), minY, maxY, y0, ph),
                        px,
                        y(r.mean() + r.sd(), minY, maxY, y0, ph));
                g.fillOval(px - 4, py - 4, 8, 8);
                int width = fm.stringWidth(r.label());
                int lx = Math.max(x0 + 2, Math.min(px + 7, x0 + w - width));
                int ly = py - 6;
                for (boolean moved = true; moved; ) {
                    moved = false;
                    for (int[] q : placed) {
                        boolean overlapX = lx < q[0] + q[2] && q[0] < lx + width;
                        if (overlapX && Math.abs(ly - q[1]) < fm.getHeight()) {
                            ly = q[1] + fm.getHeight();
                            moved = true;
                        }
                    }
                }
                placed.add(new int[] {lx, ly, width});
                g.setColor(Color.BLACK);
                if (ly != py - 6) {
                    g.setColor(Color.LIGHT_GRAY);
                    g.drawLine(px + 3, py, lx, ly - fm.getAscent() / 2);
                    g.setColor(Color.BLACK);
                }
                g.drawString(r.label(), lx, ly);
            }
            if (!rs.isEmpty()) {
                int py = y(rs.get(0).before(), minY, maxY, y0, ph);
                g.setColor(Color.GRAY);
                g.drawLine(x0, py, x0 + w, py);
                g.drawString("frozen base", x0 + 4, py - 4);
            }
        }
        g.dispose();
        return img;
    }

    private static int y(double v, double minY, double maxY, int y0, int ph) {
        return y0 - (int) ((v - minY) / (maxY - minY) * ph);
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> w = Files.walk(dir)) {
            w.sorted(Comparator.reverseOrder())
                    .forEach(
                            p -> {
                                try {
                                    Files.delete(p);
                                } catch (IOException e) {
                                    throw new UncheckedIOException(e);
                                }
                            });
        }
    }
}
