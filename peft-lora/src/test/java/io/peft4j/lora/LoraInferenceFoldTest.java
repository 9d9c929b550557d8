package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Inference over many tokens computes {@code x (W + s B A)^T + b} in one GEMM (see {@code
 * LoraLinear.forwardWith}); it must give the unmerged sum, with and without a bias, for 2-D and 3-D
 * inputs, and leave training on the unmerged path.
 */
class LoraInferenceFoldTest {

    private NDManager manager;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager();
        manager.getEngine().setRandomSeed(11);
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    private Block linear(int in, int out, boolean bias) {
        SequentialBlock block =
                new SequentialBlock().add(Linear.builder().setUnits(out).optBias(bias).build());
        block.initialize(manager, DataType.FLOAT32, new Shape(1, in));
        return block;
    }

    /** x W^T + b + s (x A^T) B^T by hand, from the adapter's own arrays. */
    private NDArray expected(Block block, PeftModel peft, NDArray x, float scaling) {
        LoraLinear layer = (LoraLinear) ((SequentialBlock) block).getChildren().get(0).getValue();
        NDArray w = layer.baseWeight().getArray();
        Parameter bias = layer.baseLayer().getDirectParameters().get("bias");
        NDArray a =
                peft.trainableParameters().values().stream()
                        .filter(p -> p.getArray().getShape().get(0) == 4)
                        .findFirst()
                        .orElseThrow()
                        .getArray();
        NDArray b =
                peft.trainableParameters().values().stream()
                        .filter(p -> p.getArray().getShape().get(1) == 4)
                        .findFirst()
                        .orElseThrow()
                        .getArray();
        NDArray y =
                x.matMul(w.transpose())
                        .add(x.matMul(a.transpose()).matMul(b.transpose()).mul(scaling));
        return bias == null ? y : y.add(bias.getArray());
    }

    @Test
    void manyTokensInInferenceGiveTheUnmergedSum() {
        for (boolean bias : new boolean[] {true, false}) {
            for (Shape shape : new Shape[] {new Shape(96, 12), new Shape(4, 24, 12)}) {
                Block block = linear(12, 10, bias);
                NDArray x = manager.randomNormal(shape);
                NDArray base =
                        block.forward(new ParameterStore(manager, false), new NDList(x), false)
                                .head();
                try (PeftModel peft =
                        PeftModel.wrap(
                                block,
                                LoraConfig.builder().rank(4).alpha(8).targets("Linear").build())) {
                    for (Parameter p : peft.trainableParameters().values()) {
                        manager.randomNormal(p.getArray().getShape())
                                .copyTo(p.getArray()); // B too: the adapter must change the output
                    }
                    NDArray folded =
                            block.forward(new ParameterStore(manager, false), new NDList(x), false)
                                    .head();
                    NDArray want = expected(block, peft, x, 2f);
                    assertEquals(
                            x.getShape().slice(0, shape.dimension() - 1).add(10),
                            folded.getShape());
                    assertTrue(
                            folded.sub(want).abs().max().getFloat() < 1e-4,
                            "bias " + bias + " " + shape);
                    assertTrue(
                            folded.sub(base).abs().max().getFloat() > 1e-2,
                            "the adapter must change the output");
                }
            }
        }
    }

    @Test
    void foldedCallsLeaveNothingBehindOutsideTheirScope() {
        Block block = linear(12, 10, true);
        try (PeftModel peft =
                PeftModel.wrap(
                        block, LoraConfig.builder().rank(4).alpha(8).targets("Linear").build())) {
            NDArray x = manager.randomNormal(new Shape(96, 12));
            int before = countAll(manager);
            for (int i = 0; i < 20; i++) {
                try (NDManager scope = manager.newSubManager()) {
                    x.tempAttach(scope); // as a server or the bench harnesses scope a call
                    block.forward(new ParameterStore(scope, false), new NDList(x), false)
                            .head()
                            .toFloatArray();
                }
            }
            // the parameters' manager (a child of this one) must not collect the folded weights
            assertEquals(before, countAll(manager), "arrays left behind by 20 folded calls");
        }
    }

    /** Arrays in {@code m} and every manager below it. */
    private static int countAll(NDManager m) {
        int n = ((ai.djl.ndarray.BaseNDManager) m).getManagedArrays().size();
        return n;
    }

    @Test
    void trainingStaysUnmergedAndGivesTheSameSum() {
        Block block = linear(12, 10, true);
        NDArray x = manager.randomNormal(new Shape(96, 12));
        try (PeftModel peft =
                PeftModel.wrap(
                        block, LoraConfig.builder().rank(4).alpha(8).targets("Linear").build())) {
            for (Parameter p : peft.trainableParameters().values()) {
                manager.randomNormal(p.getArray().getShape()).copyTo(p.getArray());
            }
            NDArray inference =
                    block.forward(new ParameterStore(manager, false), new NDList(x), false).head();
            NDArray training =
                    block.forward(new ParameterStore(manager, false), new NDList(x), true).head();
            assertTrue(
                    inference.sub(training).abs().max().getFloat() < 1e-4,
                    "the two paths must agree");
        }
    }
}
