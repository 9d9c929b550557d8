package io.peft4j.bench.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.peft4j.core.linalg.ExactLowRank;
import io.peft4j.core.linalg.RandomizedSvd;
import java.util.Locale;
import java.util.Random;

/**
 * What the exact rank-R approximation costs against the randomized one, per square matrix size,
 * timed alternately in the same rounds (the machine is shared, so only the ratio and the exact
 * path's growth mean anything). Informs LIFT's {@code exact_svd_max_dim}.
 *
 * <pre>
 * mvn -o -q -B -pl peft-bench -am install -DskipTests
 * mvn -o -q -B -pl peft-bench exec:java -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 \
 *     -Dbench.main=io.peft4j.bench.experiments.ExactSvdCost -Dexec.args="256 512 1024"
 * </pre>
 */
public final class ExactSvdCost {

    private ExactSvdCost() {}

    public static void main(String[] args) {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        int rank = 8;
        System.out.println(
                "| d (d x d matrix) | exact (s) | randomized R=8, 8 oversamples, 2 iterations (s) | ratio |");
        System.out.println("|---:|---:|---:|---:|");
        for (String a : args.length == 0 ? new String[] {"256", "512", "1024"} : args) {
            int d = Integer.parseInt(a);
            try (NDManager m = NDManager.newBaseManager()) {
                Random r = new Random(d);
                float[] v = new float[d * d];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) r.nextGaussian();
                }
                NDArray w = m.create(v, new Shape(d, d));
                double exact = Double.MAX_VALUE;
                double randomized = Double.MAX_VALUE;
                for (int round = 0;
                        round < 3;
                        round++) { // best of 3: the least disturbed by other load
                    long t0 = System.nanoTime();
                    ExactLowRank.approximate(w, rank).close();
                    exact = Math.min(exact, (System.nanoTime() - t0) / 1e9);
                    t0 = System.nanoTime();
                    try (RandomizedSvd.Result res = RandomizedSvd.compute(w, rank, 8, 2, 1)) {
                        res.u().mul(res.s().reshape(1, rank)).matMul(res.vt()).close();
                    }
                    randomized = Math.min(randomized, (System.nanoTime() - t0) / 1e9);
                }
                System.out.printf(
                        Locale.ROOT,
                        "| %d | %.3f | %.3f | %.1f |%n",
                        d,
                        exact,
                        randomized,
                        exact / randomized);
            }
        }
    }
}
