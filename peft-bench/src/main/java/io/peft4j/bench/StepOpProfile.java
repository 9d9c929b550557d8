package io.peft4j.bench;

import ai.djl.Model;
import ai.djl.pytorch.jni.JniUtils;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.PeftModel;
import io.peft4j.core.train.FineTuner;
import io.peft4j.models.LlamaConfig;
import io.peft4j.tasks.CausalLmTask;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where a LoRA r=8 all-linear train step of a random decoder spends its time: the wall time and the
 * page faults (minor faults from {@code /proc/self/stat}) of each of {@code steps} steps in one
 * process, then, with a trace path, libtorch's profiler over one more step, its Chrome trace
 * written there and the ops with the most self time printed. Made to find the page-fault cost on
 * this project's VMs (see the README, "Speed on virtual machines"): run it once with and once
 * without {@code GLIBC_TUNABLES=glibc.malloc.hugetlb=1}.
 *
 * <p>Usage: {@code StepOpProfile <shape: qwen0.5b|llama1b|smollm135m|tiny> <batch> <seq> <steps>
 * [trace.json [top]]}.
 */
public final class StepOpProfile {

    private StepOpProfile() {}

    /**
     * Runs the steps and the profile; see the class comment.
     *
     * @param args shape, batch, seq, steps, optional trace path and number of ops to print
     * @throws IOException if the trace cannot be read
     */
    public static void main(String[] args) throws IOException {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        if (args.length < 4) {
            System.err.println(
                    "usage: StepOpProfile <shape> <batch> <seq> <steps> [trace.json [top]]");
            System.exit(2);
        }
        Bench.gradOff();
        LlamaConfig config = RealSizeTraining.shape(args[0]);
        int batch = Integer.parseInt(args[1]);
        int seq = Integer.parseInt(args[2]);
        int steps = Integer.parseInt(args[3]);
        System.out.println("StepOpProfile: " + Bench.machine());
        try (Model model = RealSizeTraining.build(config);
                PeftModel peft = PeftModel.wrap(model.getBlock(), RealSizeTraining.lora())) {
            CausalLmTask task =
                    CausalLmTask.ofTokenIds(
                            model.getBlock(),
                            RealSizeTraining.randomSequences(
                                    batch * 4, seq, config.vocabSize(), 14),
                            seq,
                            0);
            FineTuner tuner =
                    FineTuner.builder().maxSteps(1).batchSize(batch).progress(false).build();
            for (int i = 0; i < steps; i++) {
                long faults = minorFaults();
                double seconds = tuner.fit(peft, task, task).seconds();
                System.out.printf(
                        Locale.ROOT,
                        "%s %dx%d step %d: %.2f s, %,d minor page faults%n",
                        args[0],
                        batch,
                        seq,
                        i + 1,
                        seconds,
                        minorFaults() - faults);
            }
            System.out.printf(
                    Locale.ROOT,
                    "RSS %.2f GB, peak %.2f GB%n",
                    Bench.rssKb() * 1.024e-6,
                    Bench.peakRssKb() * 1.024e-6);
            if (args.length > 4) {
                Path trace = Path.of(args[4]);
                JniUtils.startProfile(false, true, false);
                double seconds = tuner.fit(peft, task, task).seconds();
                JniUtils.stopProfile(trace.toString());
                System.out.printf(
                        Locale.ROOT, "profiled step: %.2f s (profiler included)%n", seconds);
                int top = args.length > 5 ? Integer.parseInt(args[5]) : 15;
                selfTimes(trace).stream().limit(top).forEach(System.out::println);
            }
        }
    }

    /** This process's minor page faults so far (field 10 of /proc/self/stat), -1 off Linux. */
    static long minorFaults() {
        try {
            String stat = Files.readString(Path.of("/proc/self/stat"), StandardCharsets.US_ASCII);
            // the fields after the command name, which is in parentheses and may hold spaces
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(fields[7]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * Per op name: self time (its duration less its children's on the same thread), total time and
     * calls, most self time first, from a Chrome trace of libtorch's profiler.
     */
    static List<String> selfTimes(Path trace) throws IOException {
        List<JsonObject> events = new ArrayList<>();
        try (Reader r = Files.newBufferedReader(trace, StandardCharsets.UTF_8)) {
            JsonElement root = JsonParser.parseReader(r);
            for (JsonElement e :
                    (root.isJsonObject()
                            ? root.getAsJsonObject().getAsJsonArray("traceEvents")
                            : root.getAsJsonArray())) {
                JsonObject o = e.getAsJsonObject();
                if (o.has("dur") && o.has("ph") && o.get("ph").getAsString().equals("X")) {
                    events.add(o);
                }
            }
        }
        events.sort(
                Comparator.comparing((JsonObject o) -> String.valueOf(o.get("tid")))
                        .thenComparingDouble(o -> o.get("ts").getAsDouble())
                        .thenComparingDouble(o -> -o.get("dur").getAsDouble()));
        Map<String, double[]> byName = new HashMap<>(); // {self us, total us, calls}
        Deque<double[]> open = new ArrayDeque<>(); // {end us, index into selfOf}
        double[] selfOf = new double[events.size()];
        String tid = null;
        for (int i = 0; i < events.size(); i++) {
            JsonObject e = events.get(i);
            String t = String.valueOf(e.get("tid"));
            if (!t.equals(tid)) {
                open.clear();
                tid = t;
            }
            double ts = e.get("ts").getAsDouble();
            double dur = e.get("dur").getAsDouble();
            while (!open.isEmpty() && open.peek()[0] <= ts) {
                open.pop();
            }
            selfOf[i] = dur;
            if (!open.isEmpty()) {
                selfOf[(int) open.peek()[1]] -= dur;
            }
            open.push(new double[] {ts + dur, i});
        }
        for (int i = 0; i < events.size(); i++) {
            double[] s =
                    byName.computeIfAbsent(
                            events.get(i).get("name").getAsString(), k -> new double[3]);
            s[0] += selfOf[i];
            s[1] += events.get(i).get("dur").getAsDouble();
            s[2]++;
        }
        List<String> lines = new ArrayList<>();
        byName.entrySet().stream()
                .sorted((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0]))
                .forEach(
                        e ->
                                lines.add(
                                        String.format(
                                                Locale.ROOT,
                                                "  %9.1f ms self %9.1f ms total %6d calls  %s",
                                                e.getValue()[0] / 1e3,
                                                e.getValue()[1] / 1e3,
                                                (long) e.getValue()[2],
                                                e.getKey())));
        return lines;
    }
}
