package io.peft4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.Dropout;
import io.peft4j.core.ops.InvertedDropout;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Training-mode dropout (p = 0.1) on MiniLM's attention probabilities at batch 16 x 128 (16 x 12 x
 * 128 x 128 floats): {@link InvertedDropout}, whose mask is drawn in Java, against DJL's {@code
 * Dropout.dropout} (libtorch's {@code bernoulli_} mask), alternating in one process, each call
 * under a sub-manager that is closed. Usage: {@code DropoutTiming [cases=mask] [rounds=15]
 * [--tiny]}; {@code --tiny} uses 4 x 64 x 64 (the CI smoke run).
 */
public final class DropoutTiming {

    private DropoutTiming() {}

    public static void main(String[] args) throws Exception {
        // first thing: MKL's fast path on AMD CPUs (the library never installs it)
        io.peft4j.core.engine.MklCpuDispatch.install();
        Bench.printReport(args, "mask", 15, DropoutTiming::run);
    }

    /** Runs the named cases (only {@code mask}) and returns the report lines. */
    static List<String> run(String cases, int rounds, boolean tiny) {
        Shape shape = tiny ? new Shape(4, 64, 64) : new Shape(16, 12, 128, 128);
        List<String> out = new ArrayList<>();
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray x = manager.randomUniform(0f, 1f, shape);
            timeLibtorch(x); // warm-up: both code paths compiled, memory reused
            timeJava(x);
            double[] libtorch = new double[rounds];
            double[] java = new double[rounds];
            double[] ratio = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                libtorch[r] = timeLibtorch(x);
                java[r] = timeJava(x);
                ratio[r] = java[r] / libtorch[r];
            }
            long n = shape.size();
            out.add(
                    String.format(
                            Locale.ROOT,
                            "dropout p=0.1 over %s (%,d floats), libtorch threads %d: libtorch's"
                                    + " bernoulli_ mask %.1f ms (%.2f ns a float), Java mask %.1f ms"
                                    + " (%.2f ns a float) (medians)",
                            shape,
                            n,
                            Bench.torchThreads(),
                            Bench.median(libtorch),
                            Bench.median(libtorch) * 1e6 / n,
                            Bench.median(java),
                            Bench.median(java) * 1e6 / n));
            out.add("  Java mask / libtorch's: " + Bench.summary(ratio));
        }
        return out;
    }

    private static double timeLibtorch(NDArray x) {
        try (NDManager scope = x.getManager().newSubManager()) {
            x.tempAttach(scope);
            long t0 = System.nanoTime();
            Dropout.dropout(x, 0.1f, true).head();
            return (System.nanoTime() - t0) / 1e6;
        }
    }

    private static double timeJava(NDArray x) {
        try (NDManager scope = x.getManager().newSubManager()) {
            x.tempAttach(scope);
            long t0 = System.nanoTime();
            InvertedDropout.apply(x, 0.1f, true);
            return (System.nanoTime() - t0) / 1e6;
        }
    }
}
