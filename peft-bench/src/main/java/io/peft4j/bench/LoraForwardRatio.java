package io.peft4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import io.peft4j.core.PeftModel;
import io.peft4j.core.spi.AdapterConfig;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Forward time of an unmerged (and a merged) LoRA r=8 Linear over the plain Linear, 1024x1024 at
 * batch 64, measured side by side: rounds alternate A and B, the ratio is the median of per-round
 * ratios. Usage: {@code LoraForwardRatio [rounds] [callsPerRound]}.
 */
public final class LoraForwardRatio {

    private LoraForwardRatio() {}

    public static void main(String[] args) {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 21;
        int calls = args.length > 1 ? Integer.parseInt(args[1]) : 40;
        try (NDManager manager = NDManager.newBaseManager()) {
            manager.getEngine().setRandomSeed(3);
            Block base = linear(manager);
            Block unmerged = linear(manager);
            Block merged = linear(manager);
            AdapterConfig config = BenchMethods.lora("Linear");
            try (PeftModel a = PeftModel.wrap(unmerged, config);
                    PeftModel b = PeftModel.wrap(merged, config)) {
                for (PeftModel p : List.of(a, b)) {
                    for (Parameter param : p.trainableParameters().values()) {
                        NDArray r =
                                param.getArray()
                                        .getManager()
                                        .randomNormal(param.getArray().getShape())
                                        .mul(0.02);
                        r.copyTo(param.getArray());
                        r.close();
                    }
                }
                b.merge();
                if (Boolean.getBoolean("bench.freeze")) {
                    a.trainableParameters().values().forEach(p -> p.freeze(true));
                }
                NDArray x = manager.randomNormal(0, 1, new Shape(64, 1024), DataType.FLOAT32);
                double[] unmergedRatios = new double[rounds];
                double[] mergedRatios = new double[rounds];
                double[] baseMillis = new double[rounds];
                for (int warm = 0; warm < 3; warm++) {
                    time(base, x, calls);
                    time(unmerged, x, calls);
                    time(merged, x, calls);
                }
                for (int round = 0; round < rounds; round++) {
                    double tBase = time(base, x, calls);
                    double tUnmerged = time(unmerged, x, calls);
                    double tMerged = time(merged, x, calls);
                    double tBase2 = time(base, x, calls);
                    double baseMean = (tBase + tBase2) / 2;
                    baseMillis[round] = baseMean * 1e3;
                    unmergedRatios[round] = tUnmerged / baseMean;
                    mergedRatios[round] = tMerged / baseMean;
                }
                System.out.printf(
                        Locale.ROOT,
                        "Linear 1024x1024, batch 64, LoRA r=8, %d rounds x %d calls, median of per-round ratios%n",
                        rounds,
                        calls);
                System.out.println(Bench.machine());
                System.out.printf(
                        Locale.ROOT,
                        "base forward: %.3f ms per call (median)%n",
                        median(baseMillis));
                System.out.printf(
                        Locale.ROOT,
                        "unmerged LoRA forward / base forward: %.3f (IQR %.3f-%.3f)%n",
                        median(unmergedRatios),
                        quantile(unmergedRatios, 0.25),
                        quantile(unmergedRatios, 0.75));
                System.out.printf(
                        Locale.ROOT,
                        "merged LoRA forward / base forward:   %.3f (IQR %.3f-%.3f)%n",
                        median(mergedRatios),
                        quantile(mergedRatios, 0.25),
                        quantile(mergedRatios, 0.75));
            }
        }
    }

    static Block linear(NDManager manager) {
        SequentialBlock block = new SequentialBlock().add(Linear.builder().setUnits(1024).build());
        block.initialize(manager, DataType.FLOAT32, new Shape(1, 1024));
        return block;
    }

    /** Seconds per forward call, each call's intermediates freed with a sub-manager. */
    static double time(Block block, NDArray x, int calls) {
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            try (NDManager scope = x.getManager().newSubManager()) {
                // Intermediates attach to the manager of their first operand. Without this, every
                // array made inside the forward (the LoRA path makes four) would pile up in x's
                // long-lived manager: never freed, each call paying for fresh memory.
                x.tempAttach(scope);
                NDArray y =
                        block.forward(new ParameterStore(scope, false), new NDList(x), false)
                                .head();
                y.attach(scope);
                y.toByteBuffer(); // forces the computation to finish
            }
        }
        return (System.nanoTime() - start) / 1e9 / calls;
    }

    static double median(double[] v) {
        return quantile(v, 0.5);
    }

    static double quantile(double[] v, double q) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[(int) Math.round(q * (s.length - 1))];
    }
}
