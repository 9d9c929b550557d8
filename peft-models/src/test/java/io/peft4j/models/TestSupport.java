package io.peft4j.models;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;

/** Shared helpers for the model tests. */
final class TestSupport {

    private TestSupport() {}

    /**
     * ../shared (env PEFT4J_SHARED, else the peft4j.shared property surefire sets); tests needing
     * it skip when it is absent.
     */
    static Path shared() {
        String prop =
                System.getenv("PEFT4J_SHARED") != null
                        ? System.getenv("PEFT4J_SHARED")
                        : System.getProperty("peft4j.shared");
        Path p = prop != null ? Paths.get(prop) : Paths.get("..", "shared");
        return p.toAbsolutePath().normalize();
    }

    static Path requireShared(String relative) {
        Path p = shared().resolve(relative);
        Assumptions.assumeTrue(
                Files.exists(p),
                "skipped: "
                        + p
                        + " is absent (the shared models/fixtures folder is not checked out)");
        return p;
    }

    static LlamaConfig tinyLlama(String type, int heads, int kvHeads, boolean tied) {
        LlamaConfig.Builder b =
                LlamaConfig.builder()
                        .modelType(type)
                        .vocabSize(37)
                        .hiddenSize(16)
                        .intermediateSize(24)
                        .numHiddenLayers(2)
                        .numAttentionHeads(heads)
                        .numKeyValueHeads(kvHeads)
                        .rmsNormEps(1e-5)
                        .tieWordEmbeddings(tied)
                        .initializerRange(0.3);
        if (type.equals("qwen2")) {
            b.qkvBias(true);
        }
        return b.build();
    }

    /** Builds and initialises a model with random weights (biases too, so they matter). */
    static <B extends Block> B init(B block, NDManager manager) {
        block.initialize(manager, DataType.FLOAT32, new Shape(1, 4));
        for (Parameter p : block.getParameters().values()) {
            if (p.getName().equals("bias")) {
                p.getArray()
                        .intern(
                                new NormalInitializer(0.3f)
                                        .initialize(
                                                manager,
                                                p.getArray().getShape(),
                                                DataType.FLOAT32));
            }
        }
        return block;
    }

    static NDArray forward(Block block, NDManager manager, NDArray... inputs) {
        return block.forward(new ParameterStore(manager, false), new NDList(inputs), false).head();
    }

    static long[] randomIds(Random r, int n, int vocab) {
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) {
            ids[i] = r.nextInt(vocab);
        }
        return ids;
    }

    static void assertClose(NDArray expected, NDArray actual, double tol, String what) {
        assertEquals(expected.getShape(), actual.getShape(), what + ": shape");
        float[] e = expected.toType(DataType.FLOAT32, false).toFloatArray();
        float[] a = actual.toType(DataType.FLOAT32, false).toFloatArray();
        double worst = 0;
        int at = -1;
        for (int i = 0; i < e.length; i++) {
            double d = Math.abs(e[i] - a[i]);
            if (!(d <= worst)) {
                worst = d;
                at = i;
            }
        }
        if (worst > tol || Double.isNaN(worst)) {
            throw new AssertionError(
                    what
                            + ": max abs difference "
                            + worst
                            + " at flat index "
                            + at
                            + " (expected "
                            + e[at]
                            + ", got "
                            + a[at]
                            + "), tolerance "
                            + tol);
        }
    }

    static double maxAbsDiff(NDArray x, NDArray y) {
        return x.sub(y).abs().max().getFloat();
    }
}
