package io.peft4j.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import io.peft4j.core.train.AdamMoments;
import io.peft4j.core.train.AdamW;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One AdamW step over all-MiniLM-L6-v2's weight matrices (22.3M values: the word embeddings and six
 * layers' attention and MLP weights), the one-pass Java update against the array form in libtorch
 * passes ({@code -Dpeft4j.adam.onePass=false}), alternating in one process. Usage: {@code
 * AdamStepTiming [cases=step] [rounds=9] [--tiny]}; {@code --tiny} uses a 2-layer, 64-wide set (the
 * CI smoke run).
 */
public final class AdamStepTiming {

    private AdamStepTiming() {}

    public static void main(String[] args) throws Exception {
        // first thing: MKL's fast path on AMD CPUs (the library never installs it)
        io.peft4j.core.engine.MklCpuDispatch.install();
        Bench.printReport(args, "step", 9, AdamStepTiming::run);
    }

    /** Runs the named cases (only {@code step}) and returns the report lines. */
    static List<String> run(String cases, int rounds, boolean tiny) {
        long hidden = tiny ? 64 : 384;
        long[][] perLayer = {
            {4 * hidden, hidden},
            {hidden, 4 * hidden},
            {hidden, hidden},
            {hidden, hidden},
            {hidden, hidden},
            {hidden, hidden}
        };
        int layers = tiny ? 2 : 6;
        long vocab = tiny ? 1000 : 30522;
        List<String> out = new ArrayList<>();
        try (NDManager manager = NDManager.newBaseManager()) {
            Map<String, Parameter> params = new LinkedHashMap<>();
            add(params, manager, "embeddings", new long[] {vocab, hidden});
            for (int layer = 0; layer < layers; layer++) {
                for (int i = 0; i < perLayer.length; i++) {
                    add(params, manager, "layer" + layer + "." + i, perLayer[i]);
                }
            }
            long values = params.values().stream().mapToLong(p -> p.getArray().size()).sum();
            AdamW arrays = AdamW.builder().weightDecay(0.01).build();
            AdamW onePass = AdamW.builder().weightDecay(0.01).build();
            // warm-up: slots created, code compiled
            step(params, arrays, false);
            step(params, onePass, true);
            double[] arrayMs = new double[rounds];
            double[] onePassMs = new double[rounds];
            double[] ratio = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                arrayMs[r] = step(params, arrays, false);
                onePassMs[r] = step(params, onePass, true);
                ratio[r] = onePassMs[r] / arrayMs[r];
            }
            out.add(
                    String.format(
                            Locale.ROOT,
                            "AdamW step over %,d values (%s), libtorch threads %d: array form %.1f"
                                    + " ms, one Java pass %.1f ms (medians; %.2f vs %.2f ns a value)",
                            values,
                            tiny ? "TINY smoke shapes" : "all-MiniLM-L6-v2's weight matrices",
                            Bench.torchThreads(),
                            Bench.median(arrayMs),
                            Bench.median(onePassMs),
                            Bench.median(arrayMs) * 1e6 / values,
                            Bench.median(onePassMs) * 1e6 / values));
            out.add("  one pass / array form: " + Bench.summary(ratio));
        } finally {
            System.clearProperty(AdamMoments.ONE_PASS_PROPERTY);
        }
        return out;
    }

    private static void add(
            Map<String, Parameter> params, NDManager manager, String name, long[] shape) {
        Parameter p = Parameter.builder().setName(name).setType(Parameter.Type.WEIGHT).build();
        NDArray w = manager.randomNormal(new Shape(shape)).mul(0.02f);
        w.setRequiresGradient(true);
        p.setArray(w);
        params.put(name, p);
    }

    /** Fresh gradients, then one timed optimiser step; returns its milliseconds. */
    private static double step(Map<String, Parameter> params, AdamW optimizer, boolean onePass) {
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray loss = null;
            for (Parameter p : params.values()) {
                NDArray term = p.getArray().square().sum();
                loss = loss == null ? term : loss.add(term);
            }
            gc.backward(loss);
        }
        System.setProperty(AdamMoments.ONE_PASS_PROPERTY, Boolean.toString(onePass));
        long t0 = System.nanoTime();
        optimizer.step(params, 1e-3f);
        return (System.nanoTime() - t0) / 1e6;
    }
}
