package io.peft4j.bench.spark;

import java.util.Locale;

/**
 * Prints the README's exchange table: bytes each worker sends per step (adapter vs full gradients)
 * for MiniLM and a Qwen2.5-0.5B-shaped decoder, computed from their shapes, and the time to move
 * them for 8-64 workers over 10 GbE, as a ring all-reduce and as Spark's allGather (which goes
 * through the driver), next to a measured step time.
 *
 * <p>Argument: the measured seconds per training step to compare against (default 0.2).
 */
public final class ExchangeFigures {

    static final double TEN_GBE = 10e9 / 8; // bytes per second

    private ExchangeFigures() {}

    /** BERT encoder parameters (no pooler): embeddings, layers. */
    static long bert(
            long vocab, long hidden, long layers, long intermediate, long positions, long types) {
        long embeddings = (vocab + positions + types) * hidden + 2 * hidden;
        long layer =
                4 * (hidden * hidden + hidden)
                        + 2 * hidden
                        + (hidden * intermediate + intermediate)
                        + (intermediate * hidden + hidden)
                        + 2 * hidden;
        return embeddings + layers * layer;
    }

    /** Qwen2 decoder parameters (q/k/v biases, tied embeddings, RMSNorm weights). */
    static long qwen2(long vocab, long hidden, long layers, long intermediate, long kvDim) {
        long layer =
                (hidden * hidden + hidden)
                        + 2 * (hidden * kvDim + kvDim)
                        + hidden * hidden
                        + 3 * hidden * intermediate
                        + 2 * hidden;
        return vocab * hidden + layers * layer + hidden;
    }

    /** LoRA rank r on q (hidden -> hidden) and v (hidden -> vDim) of every layer. */
    static long loraQv(long r, long hidden, long vDim, long layers) {
        return layers * (r * (hidden + hidden) + r * (hidden + vDim));
    }

    public static void main(String[] args) {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        double step = args.length > 0 ? Double.parseDouble(args[0]) : 0.2;
        long minilmFull = bert(30522, 384, 6, 1536, 512, 2);
        long minilmLora = loraQv(8, 384, 384, 6);
        long qwenFull = qwen2(151936, 896, 24, 4864, 128);
        long qwenLora = loraQv(8, 896, 128, 24);
        System.out.println(
                "| model | trainable values | float32 bytes per worker per step | as base64 text |");
        System.out.println("|---|---:|---:|---:|");
        row("MiniLM, LoRA r=8 q,v", minilmLora);
        row("MiniLM, full gradients", minilmFull);
        row("Qwen2.5-0.5B shape, LoRA r=8 q,v", qwenLora);
        row("Qwen2.5-0.5B shape, full gradients", qwenFull);
        System.out.println();
        System.out.printf(
                Locale.ROOT,
                "Seconds per step on 10 GbE against a measured step of %.3f s:%n%n",
                step);
        System.out.println(
                "| model | N | ring all-reduce 2(N-1)/N x bytes | Spark allGather via the driver (N x N x base64) |");
        System.out.println("|---|---:|---:|---:|");
        for (long[] m :
                new long[][] {{minilmLora, 0}, {minilmFull, 1}, {qwenLora, 2}, {qwenFull, 3}}) {
            String name =
                    new String[] {"MiniLM LoRA", "MiniLM full", "0.5B LoRA", "0.5B full"}
                            [(int) m[1]];
            for (int n : new int[] {8, 16, 32, 64}) {
                double bytes = 4.0 * m[0];
                double ring = 2.0 * (n - 1) / n * bytes / TEN_GBE;
                double gather = (double) n * n * base64(bytes) / TEN_GBE;
                System.out.printf(
                        Locale.ROOT,
                        "| %s | %d | %s | %s |%n",
                        name,
                        n,
                        cell(ring, step),
                        cell(gather, step));
            }
        }
    }

    private static void row(String name, long values) {
        System.out.printf(
                Locale.ROOT,
                "| %s | %,d | %,d | %,d |%n",
                name,
                values,
                4 * values,
                (long) base64(4.0 * values));
    }

    private static double base64(double bytes) {
        return 4 * Math.ceil(bytes / 3);
    }

    private static String cell(double seconds, double step) {
        return String.format(
                Locale.ROOT, "%.4f s (%.1f%% of a step)", seconds, 100 * seconds / step);
    }
}
