package io.peft4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * Times each op of an unmerged LoRA Linear forward in isolation on the bench's shapes (x 64x1024, W
 * 1024x1024, A 8x1024, B 1024x8), every op's output freed per call, ops interleaved round by round.
 * Prints the median microseconds per call of each op and its ratio to the base Linear. Usage:
 * {@code LoraOpProfile [rounds] [callsPerRound]}.
 */
public final class LoraOpProfile {

    private LoraOpProfile() {}

    public static void main(String[] args) {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 9;
        int calls = args.length > 1 ? Integer.parseInt(args[1]) : 100;
        try (NDManager manager = NDManager.newBaseManager()) {
            manager.getEngine().setRandomSeed(3);
            NDArray x = manager.randomNormal(0, 1, new Shape(64, 1024), DataType.FLOAT32);
            NDArray w = manager.randomNormal(0, 0.02f, new Shape(1024, 1024), DataType.FLOAT32);
            NDArray bias = manager.zeros(new Shape(1024));
            NDArray a = manager.randomNormal(0, 0.02f, new Shape(8, 1024), DataType.FLOAT32);
            NDArray b = manager.randomNormal(0, 0.02f, new Shape(1024, 8), DataType.FLOAT32);
            NDArray h = Linear.linear(x, a).head();
            NDArray d = Linear.linear(h, b).head();
            NDArray y = Linear.linear(x, w, bias).head();
            NDArray aT = a.transpose().duplicate();
            NDArray scale = manager.create(2f);
            Map<String, Function<NDManager, NDArray>> ops = new LinkedHashMap<>();
            ops.put("base linear(x, W, b) 64x1024x1024", s -> Linear.linear(x, w, bias).head());
            ops.put("linear(x, A) 64x1024 -> 8", s -> Linear.linear(x, a).head());
            ops.put("x.matMul(A^T) contiguous", s -> x.matMul(aT));
            ops.put("linear(h, B) 64x8 -> 1024", s -> Linear.linear(h, b).head());
            ops.put("d.mul(2f) (scalar from Java)", s -> d.mul(2f));
            ops.put("d.mul(scalar NDArray)", s -> d.mul(scale));
            ops.put("y.add(d)", s -> y.add(d));
            ops.put(
                    "y.addi(d) in place",
                    s -> {
                        y.addi(d);
                        return null;
                    });
            ops.put("manager.create(2f)", s -> s.create(2f));
            ops.put(
                    "full delta chain (intermediates leak to x's manager)",
                    s -> y.add(Linear.linear(Linear.linear(x, a).head(), b).head().mul(2f)));
            ops.put(
                    "full delta chain (x temp-attached to the call's scope)",
                    s -> {
                        x.tempAttach(s);
                        return y.add(Linear.linear(Linear.linear(x, a).head(), b).head().mul(2f));
                    });
            ops.put(
                    "fused: linear(linear(x,A).mul(s), B, bias=y) (x temp-attached)",
                    s -> {
                        x.tempAttach(s);
                        return Linear.linear(Linear.linear(x, a).head().mul(2f), b, y).head();
                    });
            ops.put(
                    "base + unfused delta, all temp-attached",
                    s -> {
                        x.tempAttach(s);
                        NDArray yy = Linear.linear(x, w, bias).head();
                        return yy.add(Linear.linear(Linear.linear(x, a).head(), b).head().mul(2f));
                    });
            ops.put(
                    "base + fused delta, all temp-attached",
                    s -> {
                        x.tempAttach(s);
                        NDArray yy = Linear.linear(x, w, bias).head();
                        return Linear.linear(Linear.linear(x, a).head().mul(2f), b, yy).head();
                    });
            int n = ops.size();
            double[][] micros = new double[n][rounds];
            for (int round = -2; round < rounds; round++) {
                int i = 0;
                for (Function<NDManager, NDArray> op : ops.values()) {
                    double t = time(manager, op, calls);
                    if (round >= 0) {
                        micros[i][round] = t * 1e6;
                    }
                    i++;
                }
            }
            double base = LoraForwardRatio.median(micros[0]);
            System.out.printf(
                    Locale.ROOT,
                    "op profile, %d rounds x %d calls, threads: %s%n",
                    rounds,
                    calls,
                    threads());
            int i = 0;
            for (String name : ops.keySet()) {
                double m = LoraForwardRatio.median(micros[i++]);
                System.out.printf(
                        Locale.ROOT, "  %-66s %9.1f us  %.3f x base%n", name, m, m / base);
            }
        }
    }

    static String threads() {
        return "num_threads="
                + System.getProperty("ai.djl.pytorch.num_threads", "default")
                + " OMP_NUM_THREADS="
                + System.getenv().getOrDefault("OMP_NUM_THREADS", "unset");
    }

    static double time(NDManager manager, Function<NDManager, NDArray> op, int calls) {
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            try (NDManager scope = manager.newSubManager()) {
                NDArray out = op.apply(scope);
                if (out != null) {
                    out.attach(scope);
                    out.toByteBuffer();
                }
            }
        }
        return (System.nanoTime() - start) / 1e9 / calls;
    }
}
