package io.peft4j.lift;

import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import io.peft4j.core.contract.AdapterContractSuite;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import java.util.List;

/**
 * LIFT passes the contract every method passes. LIFT edits base entries by design, but this
 * implementation never writes the base weight while training: the selected entries live in the
 * adapter's trainable k-vector and the forward pass substitutes them, so the suite's strict check
 * (every base tensor bit-identical) holds unchanged; that only masked entries of the effective
 * weight change is checked in {@link LiftTrainingTest}.
 */
class LiftContractTest extends AdapterContractSuite {

    @Override
    protected List<Case> cases() {
        return List.of(
                new Case(
                        "mlp r1 R2",
                        TestModels.Kind.MLP,
                        LiftConfig.builder()
                                .rank(1)
                                .filterRank(2)
                                .targets("Linear_1", "Linear_3")
                                .build()),
                new Case(
                        "all-linear r1 R2",
                        TestModels.Kind.TRANSFORMER,
                        LiftConfig.builder().rank(1).filterRank(2).build()),
                new Case(
                        "qv density 0.25 plain magnitude",
                        TestModels.Kind.TRANSFORMER,
                        LiftConfig.builder()
                                .density(0.25)
                                .filterRank(0)
                                .targets("q_proj", "v_proj")
                                .build()),
                new Case(
                        "all-linear r1 R2 smallest",
                        TestModels.Kind.TRANSFORMER,
                        LiftConfig.builder()
                                .rank(1)
                                .filterRank(2)
                                .maskSelection(MaskSelection.SMALLEST)
                                .build()),
                new Case(
                        "mlp r1 R2 randomized SVD",
                        TestModels.Kind.MLP,
                        LiftConfig.builder()
                                .rank(1)
                                .filterRank(2)
                                .exactSvdMaxDim(0)
                                .targets("Linear_1", "Linear_3")
                                .build()),
                new Case(
                        "o_proj k = mn",
                        TestModels.Kind.TRANSFORMER,
                        LiftConfig.builder()
                                .density(1.0)
                                .targets("o_proj")
                                .layersToTransform(List.of(1))
                                .build()),
                // DJL's own TransformerEncoderBlock: projections in fields typed Linear
                new Case(
                        "djl encoder all-linear r1 R2",
                        TestModels.Kind.DJL_ENCODER,
                        LiftConfig.builder().rank(1).filterRank(2).build()));
    }

    @Override
    protected long expectedTrainable(Case c, Block base) {
        LiftConfig config = (LiftConfig) c.config();
        long total = 0;
        for (ModuleNode node : config.targets().select(ModuleTree.of(base))) {
            Shape w = node.block().getDirectParameters().get("weight").getArray().getShape();
            long m = w.get(0);
            long n = w.get(1);
            total +=
                    config.density() != null
                            ? Math.max(1, Math.round(config.density() * m * n))
                            : Math.min((m + n) * config.rank(), m * n);
        }
        return total;
    }
}
