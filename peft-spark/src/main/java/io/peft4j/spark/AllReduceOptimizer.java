package io.peft4j.spark;

import ai.djl.nn.Parameter;
import io.peft4j.core.train.ForwardingOptimizer;
import io.peft4j.core.train.GradientClipping;
import io.peft4j.core.train.NonFiniteLossException;
import io.peft4j.core.train.PeftOptimizer;
import java.util.Arrays;
import java.util.Map;

/**
 * The optimiser a worker hands to peft-core's {@code FineTuner}: before each update it exchanges
 * the worker's adapter gradients with every other worker, replaces them by the mean, clips the mean
 * by its global norm and lets the real optimiser step. Every worker then holds the same gradient
 * bit for bit (all sum in worker order), so identical replicas stay identical; every {@code
 * hashEvery} steps a checksum of the weights rides on the next message and is compared.
 *
 * <p>The FineTuner runs with its own clipping off: clipping belongs after the averaging, as in
 * PyTorch DDP, where {@code clip_grad_norm_} sees the all-reduced gradients.
 */
final class AllReduceOptimizer extends ForwardingOptimizer {

    /**
     * The collective: {@code BarrierTaskContext.allGather} in a barrier stage (gate let go while
     * waiting).
     */
    @FunctionalInterface
    interface Collective {
        String[] allGather(String message);
    }

    private final Collective collective;
    private final int rank;
    private final float maxGradNorm;
    private final int hashEvery;

    private long step;
    private String pendingHash = "";
    private long messageChars;
    private long exchangeNanos;
    private long exchanges;
    private long hashChecks;

    AllReduceOptimizer(
            PeftOptimizer inner,
            Collective collective,
            int rank,
            double maxGradNorm,
            int hashEvery,
            long startStep) {
        super(inner);
        this.collective = collective;
        this.rank = rank;
        this.maxGradNorm = (float) maxGradNorm;
        this.hashEvery = hashEvery;
        this.step = startStep;
    }

    @Override
    public void step(Map<String, Parameter> params, float learningRate) {
        float[] local = GradientCodec.gradients(params);
        String message = step + "|" + pendingHash + "|" + GradientCodec.encode(local);
        messageChars = message.length();
        String[] all;
        long start = System.nanoTime();
        all = collective.allGather(message);
        exchangeNanos += System.nanoTime() - start;
        exchanges++;
        float[] mean = average(all, local.length);
        GradientCodec.setGradients(params, mean);
        if (maxGradNorm > 0) {
            float norm = GradientClipping.clipGlobalNorm(params.values(), maxGradNorm);
            if (!Float.isFinite(norm)) {
                throw new NonFiniteLossException(
                        "averaged gradient norm", step + 1, norm, Float.NaN, null);
            }
        }
        inner.step(params, learningRate);
        step++;
        pendingHash = hashEvery > 0 && step % hashEvery == 0 ? GradientCodec.hash(params) : "";
    }

    /**
     * Compares the final weights of all workers (one more collective round) and returns their hash.
     */
    String finish(Map<String, Parameter> params) {
        String hash = GradientCodec.hash(params);
        String[] all;
        all = collective.allGather(step + "|" + hash + "|");
        String[][] parts = split(all);
        checkSteps(parts);
        checkHashes(parts, step);
        return hash;
    }

    private float[] average(String[] all, int length) {
        String[][] parts = split(all);
        checkSteps(parts);
        if (Arrays.stream(parts).anyMatch(p -> !p[1].isEmpty())) {
            checkHashes(parts, step);
        }
        float[] sum = new float[length];
        for (int w = 0; w < parts.length; w++) { // worker order: the same sum on every worker
            float[] g = GradientCodec.decode(parts[w][2]);
            if (g.length != length) {
                throw new IllegalStateException(
                        "worker "
                                + w
                                + " sent "
                                + g.length
                                + " gradient values at step "
                                + (step + 1)
                                + " but worker "
                                + rank
                                + " trains "
                                + length
                                + "; the workers' adapters differ");
            }
            for (int i = 0; i < length; i++) {
                sum[i] += g[i];
            }
        }
        float inverse = 1f / parts.length;
        for (int i = 0; i < length; i++) {
            sum[i] *= inverse;
        }
        return sum;
    }

    private static String[][] split(String[] all) {
        String[][] parts = new String[all.length][];
        for (int w = 0; w < all.length; w++) {
            parts[w] = all[w].split("\\|", 3);
            if (parts[w].length != 3) {
                throw new IllegalStateException(
                        "worker " + w + " sent a malformed exchange message");
            }
        }
        return parts;
    }

    private void checkSteps(String[][] parts) {
        for (int w = 0; w < parts.length; w++) {
            if (Long.parseLong(parts[w][0]) != step) {
                throw new IllegalStateException(
                        "worker "
                                + w
                                + " is at step "
                                + parts[w][0]
                                + " but worker "
                                + rank
                                + " is at step "
                                + step
                                + "; the workers ran a different number of steps");
            }
        }
    }

    private void checkHashes(String[][] parts, long after) {
        for (int w = 1; w < parts.length; w++) {
            if (!parts[w][1].equals(parts[0][1])) {
                throw new ReplicaDivergenceException(
                        "after step "
                                + after
                                + " worker "
                                + w
                                + "'s adapter weights"
                                + " (checksum "
                                + parts[w][1]
                                + ") differ from worker 0's ("
                                + parts[0][1]
                                + ")");
            }
        }
        hashChecks++;
    }

    /**
     * @return characters of the last message this worker sent (ASCII, so bytes)
     */
    long messageBytes() {
        return messageChars;
    }

    /**
     * @return seconds spent in the exchange (waiting for the slowest worker included)
     */
    double exchangeSeconds() {
        return exchangeNanos / 1e9;
    }

    long exchanges() {
        return exchanges;
    }

    long hashChecks() {
        return hashChecks;
    }

    @Override
    public String toString() {
        return inner
                .toString(); // checkpoints record it; the exchange does not change the update rule
    }
}
