package io.peft4j.masa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import io.peft4j.core.tree.ModuleTree;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** MASA as compression: parameter counts, folding to dense, residual rank, the compact file. */
class MasaCompressionTest {

    private static final int L = 6;
    private static final long H = StackModel.HIDDEN;
    private NDManager manager;
    @TempDir Path tmp;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private NDArray out(Block m, NDList x) {
        return m.forward(new ParameterStore(manager, false), x, false).head().duplicate();
    }

    private static float maxDiff(NDArray a, NDArray b) {
        return a.sub(b).abs().max().getFloat();
    }

    @Test
    void parameterCountIsAtomsPlusCoefficientsPerType() {
        StackModel model = StackModel.create(manager, L, 1);
        MasaCompressor c =
                MasaCompressor.builder().targets("q_proj", "v_proj", "o_proj").atoms(2).build();
        try (CompressedAttention ca = c.compress(model, manager)) {
            assertEquals(3 * L * H * H, ca.originalParameters());
            assertEquals(
                    3 * (2 * H * H + L * 2), ca.compressedParameters()); // S*out*in + L*S per type
            double formula = 1 - 2.0 * (H * H + L) / (L * H * H); // 1 - S(out*in + L)/(L*out*in)
            assertEquals(formula, ca.reduction(), 1e-12);
        }
        try (CompressedAttention ca =
                MasaCompressor.builder()
                        .targets("q_proj")
                        .atoms(2)
                        .residualRank(3)
                        .build()
                        .compress(model, manager)) {
            assertEquals(2 * H * H + L * 2 + L * 3 * (H + H), ca.compressedParameters());
        }
    }

    @Test
    void foldingAtomsTimesCoefficientsIntoDenseWeightsLeavesOutputsUnchanged() {
        StackModel model = StackModel.create(manager, L, 2);
        Random r = new Random(3);
        float[] xs = new float[4 * (int) H];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = (float) r.nextGaussian();
        }
        NDArray x = manager.create(xs, new ai.djl.ndarray.types.Shape(4, H));
        try (CompressedAttention ca =
                MasaCompressor.builder()
                        .targets("q_proj", "v_proj")
                        .atoms(2)
                        .build()
                        .compress(model, manager)) {
            ca.applyTo(model);
            ModuleTree tree = ModuleTree.of(model);
            for (String key : ca.dictionaryKeys()) {
                NDArray atoms = ca.atoms(key);
                double[][] c = ca.coefficients(key);
                for (int l = 0; l < L; l++) {
                    String path = key.replace("0-5", String.valueOf(l));
                    Linear lin = (Linear) tree.get(path).block();
                    NDArray dense =
                            lin.forward(new ParameterStore(manager, false), new NDList(x), false)
                                    .head();
                    // structured: sum_s c_ls (x D_s^T) + b, the atoms never materialised as a dense
                    // W_l
                    NDArray structured =
                            lin.getDirectParameters()
                                    .get("bias")
                                    .getArray()
                                    .broadcast(dense.getShape());
                    for (int s = 0; s < c[l].length; s++) {
                        structured =
                                structured.add(
                                        Linear.linear(x, atoms.get(s)).head().mul((float) c[l][s]));
                    }
                    assertTrue(
                            maxDiff(dense, structured) < 1e-5,
                            path + ": dense fold differs by " + maxDiff(dense, structured));
                }
            }
        }
    }

    @Test
    void withSEqualLOutputsAreKeptAndErrorsShrinkWithResidualRank() {
        StackModel model = StackModel.create(manager, L, 4);
        NDList x = StackModel.input(manager, 5);
        NDArray before = out(model, x);
        double[] errs = new double[3];
        int[] ranks = {0, 4, 12};
        for (int i = 0; i < ranks.length; i++) {
            try (CompressedAttention ca =
                    MasaCompressor.builder()
                            .targets("q_proj")
                            .atoms(2)
                            .residualRank(ranks[i])
                            .build()
                            .compress(model, manager)) {
                errs[i] = ca.relativeErrors("layers.0-5.q_proj")[3];
            }
        }
        assertTrue(errs[0] > errs[1] && errs[1] > errs[2], java.util.Arrays.toString(errs));
        assertTrue(errs[2] < 1e-4, "full residual rank is exact: " + errs[2]);
        try (CompressedAttention ca =
                MasaCompressor.builder()
                        .atoms(L)
                        .targets("q_proj", "v_proj", "o_proj")
                        .build()
                        .compress(model, manager)) {
            ca.applyTo(model);
            assertTrue(
                    maxDiff(out(model, x), before)
                            < 1e-4 * Math.max(1, before.abs().max().getFloat()));
            assertEquals(
                    0,
                    ca.reduction() > 0 ? 1 : 0,
                    "S = L stores more, not less: " + ca.reduction());
        }
    }

    @Test
    void compactFileLoadsAndRebuildsTheSameModel() throws Exception {
        NDList x = StackModel.input(manager, 6);
        StackModel model = StackModel.create(manager, L, 7);
        Path file = tmp.resolve("attn.masa.safetensors");
        NDArray compressed;
        try (CompressedAttention ca =
                MasaCompressor.builder()
                        .targets("q_proj", "o_proj")
                        .atoms(2)
                        .groups(2)
                        .residualRank(2)
                        .build()
                        .compress(model, manager)) {
            ca.applyTo(model);
            compressed = out(model, x);
            ca.save(file);
        }
        StackModel fresh = StackModel.create(manager, L, 7);
        assertTrue(maxDiff(out(fresh, x), compressed) > 1e-4, "compression must change the model");
        try (CompressedAttention back = CompressedAttention.load(file, manager)) {
            assertEquals(
                    java.util.List.of(
                            "layers.0-2.q_proj",
                            "layers.3-5.q_proj",
                            "layers.0-2.o_proj",
                            "layers.3-5.o_proj"),
                    back.dictionaryKeys());
            back.applyTo(fresh);
        }
        assertTrue(maxDiff(out(fresh, x), compressed) <= 1e-6);
        StackModel other = StackModel.create(manager, L, 7);
        try (CompressedAttention back = CompressedAttention.load(file, manager)) {
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> back.applyTo(StackModel.create(manager, 2, 7)));
            assertTrue(e.getMessage().contains("layers.2.q_proj"), e.getMessage());
            back.applyTo(other);
        }
    }

    @Test
    void residualFactorsSurviveGarbageCollectionAfterCompression() {
        // The residual's V^T once aliased memory that only the closed SVD result kept alive: after
        // a GC and fresh allocations its values changed (a relative error of Infinity, 1 run in
        // ~25). Dense weights read before and after GC plus reuse of freed memory must be equal.
        StackModel model = StackModel.create(manager, L, 11);
        try (CompressedAttention ca =
                MasaCompressor.builder()
                        .targets("q_proj")
                        .atoms(2)
                        .residualRank(4)
                        .build()
                        .compress(model, manager)) {
            float[][] before = new float[L][];
            for (int l = 0; l < L; l++) {
                before[l] = ca.denseWeight("layers." + l + ".q_proj").toFloatArray();
            }
            for (int round = 0; round < 20; round++) {
                System.gc();
                try (NDManager churn = manager.newSubManager()) {
                    for (int i = 0; i < 8; i++) {
                        churn.create(new float[(int) (4 * H)], new ai.djl.ndarray.types.Shape(4, H))
                                .addi(churn.create(1f));
                    }
                }
            }
            for (int l = 0; l < L; l++) {
                float[] after = ca.denseWeight("layers." + l + ".q_proj").toFloatArray();
                assertTrue(
                        java.util.Arrays.equals(before[l], after),
                        "layer " + l + " dense weight changed after GC");
            }
        }
    }
}
