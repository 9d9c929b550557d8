package io.peft4j.core.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Child-JVM probe for {@link MklCpuDispatchTest}: installs (or not), checks one GEMM, prints MKL's
 * path.
 */
public final class MklProbe {

    private MklProbe() {}

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("advise")) {
            advise();
            return;
        }
        if (args.length > 0 && args[0].equals("gemm-first")) {
            try (NDManager manager = NDManager.newBaseManager()) {
                manager.ones(new Shape(64, 64))
                        .matMul(manager.ones(new Shape(64, 64)))
                        .toFloatArray();
            }
        }
        MklCpuDispatch.Outcome outcome = MklCpuDispatch.install();
        try (NDManager manager = NDManager.newBaseManager()) {
            // a GEMM big enough for MKL's blocked kernels, checked against plain Java arithmetic
            int n = 96;
            java.util.Random random = new java.util.Random(1);
            float[] x = new float[n * n];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) random.nextGaussian();
            }
            NDArray a = manager.create(x, new Shape(n, n));
            float[] product = a.matMul(a).toFloatArray();
            double maxDiff = 0;
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    double sum = 0;
                    for (int k = 0; k < n; k++) {
                        sum += (double) x[i * n + k] * x[k * n + j];
                    }
                    maxDiff = Math.max(maxDiff, Math.abs(sum - product[i * n + j]));
                }
            }
            System.out.println("STATUS " + outcome.status());
            System.out.println("MAXDIFF " + maxDiff);
            System.out.println("BRANCH " + MklCpuDispatch.codeBranch().orElse("none"));
        }
    }

    /**
     * Loads (and initialises) the classes that used to install the shim when loaded, reports
     * whether it got mapped, runs a GEMM and asks for the advice twice: the line must show once.
     */
    private static void advise() throws Exception {
        for (String name :
                new String[] {"io.peft4j.core.PeftModel", "io.peft4j.core.train.FineTuner"}) {
            Class.forName(name, true, MklProbe.class.getClassLoader());
        }
        System.out.println("SHIM_MAPPED " + shimMapped());
        try (NDManager manager = NDManager.newBaseManager()) {
            manager.ones(new Shape(64, 64)).matMul(manager.ones(new Shape(64, 64))).toFloatArray();
        }
        MklCpuDispatch.adviseIfMissing();
        MklCpuDispatch.adviseIfMissing();
        System.out.println("SHIM_MAPPED_AFTER " + shimMapped());
    }

    private static boolean shimMapped() throws java.io.IOException {
        return java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/maps"))
                .contains("libpeft4j_mkl_cpu");
    }
}
