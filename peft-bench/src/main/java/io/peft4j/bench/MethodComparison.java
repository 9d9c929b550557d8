package io.peft4j.bench;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.io.AtomicFiles;
import io.peft4j.core.spi.BenchSetting;
import io.peft4j.core.spi.PeftMethod;
import io.peft4j.examples.cli.Peft4j;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.LocalDate;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * The project's own version of the papers' tables: every method, with fixed seeds and budgets, on
 * MiniLM + SST-2 (dev accuracy) and stories260K + tinyshakespeare (held-out NLL), through the
 * {@code peft4j train} command, plus the frozen baseline. Writes {@code
 * results/method-comparison.md} and a PNG of quality against trainable parameters.
 *
 * <p>Usage: {@code MethodComparison [--shared DIR] [--out DIR] [--steps N] [--train-limit N]
 * [--tasks sst2,shakespeare] [--methods lora,mos,...]}. Settings left out by {@code --methods} keep
 * the result of their last run in {@code out/runs}. Defaults take about 30-60 minutes on 2 cores;
 * {@code --steps 2 --train-limit 64} is the smoke run.
 */
public final class MethodComparison {

    /**
     * One method setting: the key {@code --methods} selects it by, a label, the train options that
     * select it, and its learning rate (null: the task's).
     */
    record Setting(String key, String label, List<String> args, String lr) {}

    /** One finished run. */
    record Row(
            String task,
            String setting,
            String lr,
            long trainable,
            long optimizerBytes,
            double before,
            double after,
            double secondsPerStep,
            String metric) {}

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
                double scale = b.learningRateScale(taskType);
                String lr = scale == 1 ? null : number(Double.parseDouble(taskLr(task)) * scale);
                s.add(new Setting(b.key(), b.label(), List.copyOf(args), lr));
            }
        }
        return s;
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
        String sci = String.format(Locale.ROOT, "%.2e", x);
        int e = sci.indexOf('e');
        String mantissa = sci.substring(0, e).replaceAll("\\.?0+$", "");
        return mantissa + "e" + Integer.parseInt(sci.substring(e + 1));
    }

    static String taskLr(String task) {
        return task.equals("sst2") ? "1e-3" : "2e-3";
    }

    static List<String> taskArgs(String task, Path shared, int steps, int trainLimit, String lr) {
        if (task.equals("sst2")) {
            return List.of(
                    "--model",
                    shared.resolve("models/all-minilm-l6-v2").toString(),
                    "--task",
                    "classify",
                    "--train",
                    shared.resolve("data/sst2/train.tsv").toString(),
                    "--train-limit",
                    String.valueOf(trainLimit),
                    "--dev",
                    shared.resolve("data/sst2/dev.tsv").toString(),
                    "--max-length",
                    "64",
                    "--batch-size",
                    "16",
                    "--steps",
                    String.valueOf(steps),
                    "--lr",
                    lr,
                    "--seed",
                    "42",
                    "--modules-to-save",
                    "classifier");
        }
        return List.of(
                "--model",
                shared.resolve("models/stories260K").toString(),
                "--task",
                "causal-lm",
                "--train",
                shared.resolve("data/tinyshakespeare/input.txt").toString(),
                "--max-length",
                "128",
                "--batch-size",
                "8",
                "--steps",
                String.valueOf(steps),
                "--lr",
                lr,
                "--seed",
                "42");
    }

    public static void main(String[] args) throws IOException {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        Path shared = Paths.get("../shared");
        Path out = Paths.get("results");
        int steps = 300;
        int trainLimit = 3000;
        List<String> tasks = List.of("sst2", "shakespeare");
        List<String> methods = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--shared":
                    shared = Paths.get(args[++i]);
                    break;
                case "--out":
                    out = Paths.get(args[++i]);
                    break;
                case "--steps":
                    steps = Integer.parseInt(args[++i]);
                    break;
                case "--train-limit":
                    trainLimit = Integer.parseInt(args[++i]);
                    break;
                case "--tasks":
                    tasks = List.of(args[++i].split(","));
                    break;
                case "--methods":
                    methods = List.of(args[++i].split(","));
                    break;
                default:
                    throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        List<Row> rows = run(shared, out, steps, trainLimit, tasks, methods);
        write(out, rows, steps, trainLimit);
        System.out.println(
                "Wrote "
                        + out.resolve("method-comparison.md")
                        + " and "
                        + out.resolve("method-comparison.png"));
    }

    /**
     * Runs every setting of every task; a setting whose method refuses the model is reported and
     * skipped.
     */
    static List<Row> run(
            Path shared,
            Path out,
            int steps,
            int trainLimit,
            List<String> tasks,
            List<String> methods)
            throws IOException {
        List<Row> rows = new ArrayList<>();
        for (String task : tasks) {
            for (Setting s : settings(task)) {
                Path dir =
                        out.resolve("runs")
                                .resolve(task + "-" + s.label().replaceAll("[^A-Za-z0-9]+", "-"));
                Path info = dir.resolve("training_run.json");
                int code = 0;
                String lr = s.lr() != null ? s.lr() : taskLr(task);
                if (methods != null && !methods.contains(s.key())) {
                    // not run this time: an earlier run's result still goes into the table
                    if (!Files.exists(info)) {
                        continue;
                    }
                } else {
                    List<String> cli = new ArrayList<>(List.of("train"));
                    cli.addAll(taskArgs(task, shared, steps, trainLimit, lr));
                    cli.addAll(s.args());
                    cli.addAll(List.of("--out", dir.toString()));
                    System.out.println("== " + task + " / " + s.label());
                    code = Peft4j.run(cli.toArray(new String[0]));
                }
                if (code != 0 || !Files.exists(info)) {
                    System.out.println("   (failed with exit code " + code + ")");
                    continue;
                }
                JsonObject j = JsonParser.parseString(Files.readString(info)).getAsJsonObject();
                String metric = j.getAsJsonObject("after").has("accuracy") ? "accuracy" : "nll";
                rows.add(
                        new Row(
                                task,
                                s.label(),
                                lr,
                                j.get("trainable_parameters").getAsLong(),
                                j.has("optimizer_state_bytes")
                                        ? j.get("optimizer_state_bytes").getAsLong()
                                        : -1,
                                j.getAsJsonObject("before").get(metric).getAsDouble(),
                                j.getAsJsonObject("after").get(metric).getAsDouble(),
                                j.get("seconds").getAsDouble()
                                        / Math.max(1, j.get("steps").getAsLong()),
                                metric));
            }
        }
        return rows;
    }

    static void write(Path out, List<Row> rows, int steps, int trainLimit) throws IOException {
        Files.createDirectories(out);
        StringBuilder md = new StringBuilder();
        md.append("# Method comparison\n\n");
        md.append(
                String.format(
                        Locale.ROOT,
                        "Measured %s by `peft-bench` `MethodComparison` (%d steps per run, seed 42; SST-2: %d training "
                                + "sentences, full dev set; tinyshakespeare: last 10%% held out).%n%n",
                        LocalDate.now(ZoneId.systemDefault()),
                        steps,
                        trainLimit));
        md.append(
                "| task | method | lr | trainable params | optimiser state (bytes) | result before | result after | s/step |\n");
        md.append("|---|---|---:|---:|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            String metric = r.metric().equals("accuracy") ? "dev accuracy" : "held-out NLL";
            md.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %s | %s | %,d | %,d | %s %.4f | %.4f | %.3f |%n",
                            r.task(),
                            r.setting(),
                            r.lr(),
                            r.trainable(),
                            r.optimizerBytes(),
                            metric,
                            r.before(),
                            r.after(),
                            r.secondsPerStep()));
        }
        md.append("\n`result before` is the frozen base model (the baseline).\n");
        AtomicFiles.writeString(out.resolve("method-comparison.md"), md.toString());
        BufferedImage chart = chart(rows);
        AtomicFiles.write(
                out.resolve("method-comparison.png"), o -> ImageIO.write(chart, "png", o));
    }

    /** Quality against trainable parameters (log scale), one panel per task. */
    static BufferedImage chart(List<Row> rows) {
        List<String> tasks = rows.stream().map(Row::task).distinct().toList();
        int panelW = 460;
        int h = 360;
        BufferedImage img =
                new BufferedImage(
                        Math.max(1, tasks.size()) * panelW, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), h);
        for (int t = 0; t < tasks.size(); t++) {
            String task = tasks.get(t);
            List<Row> rs = rows.stream().filter(r -> r.task().equals(task)).toList();
            int x0 = t * panelW + 60;
            int y0 = h - 50;
            int w = panelW - 90;
            int ph = h - 100;
            double minX =
                    Math.log10(
                            (double)
                                    Math.max(
                                            1,
                                            rs.stream().mapToLong(Row::trainable).min().orElse(1)));
            double maxX =
                    Math.log10(
                            (double)
                                    Math.max(
                                            10,
                                            rs.stream()
                                                    .mapToLong(Row::trainable)
                                                    .max()
                                                    .orElse(10)));
            double minY =
                    rs.stream().mapToDouble(r -> Math.min(r.after(), r.before())).min().orElse(0);
            double maxY =
                    rs.stream().mapToDouble(r -> Math.max(r.after(), r.before())).max().orElse(1);
            if (maxX - minX < 1e-9) {
                maxX = minX + 1;
            }
            if (maxY - minY < 1e-9) {
                maxY = minY + 1;
            }
            g.setColor(Color.DARK_GRAY);
            g.setStroke(new BasicStroke(1));
            g.drawLine(x0, y0, x0 + w, y0);
            g.drawLine(x0, y0, x0, y0 - ph);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
            String metric =
                    rs.isEmpty()
                            ? ""
                            : rs.get(0).metric().equals("accuracy")
                                    ? "dev accuracy"
                                    : "held-out NLL (lower is better)";
            g.drawString(task + ": " + metric, x0, 25);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            g.drawString("trainable parameters (log scale)", x0 + w / 2 - 80, h - 15);
            g.drawString(String.format(Locale.ROOT, "%.3f", maxY), x0 - 50, y0 - ph + 4);
            g.drawString(String.format(Locale.ROOT, "%.3f", minY), x0 - 50, y0 + 4);
            for (Row r : rs) {
                int px =
                        x0
                                + (int)
                                        ((Math.log10((double) Math.max(1, r.trainable())) - minX)
                                                / (maxX - minX)
                                                * w);
                int py = y0 - (int) ((r.after() - minY) / (maxY - minY) * ph);
                g.setColor(new Color(30, 90, 170));
                g.fillOval(px - 5, py - 5, 10, 10);
                g.setColor(Color.BLACK);
                g.drawString(r.setting(), Math.min(px + 7, x0 + w - 120), py - 6);
            }
            if (!rs.isEmpty()) {
                int py = y0 - (int) ((rs.get(0).before() - minY) / (maxY - minY) * ph);
                g.setColor(Color.GRAY);
                g.drawLine(x0, py, x0 + w, py);
                g.drawString("frozen base", x0 + 4, py - 4);
            }
        }
        g.dispose();
        return img;
    }
}
