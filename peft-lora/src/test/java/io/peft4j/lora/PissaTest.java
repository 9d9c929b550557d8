package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.tree.ModuleTree;
import org.junit.jupiter.api.Test;

/** PiSSA init: A, B hold W's principal part, W the residual, the output is unchanged. */
class PissaTest {

    @Test
    void principalPartMovesIntoTheAdapterAndComesBackOnClose() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Block base = TestModels.transformer(manager, 4);
            NDList x = TestModels.input(TestModels.Kind.TRANSFORMER, manager, 2);
            NDArray before =
                    base.forward(new ParameterStore(manager, false), x, false).head().duplicate();
            NDArray w =
                    ModuleTree.of(base)
                            .get("layers.0.mlp.up_proj")
                            .block()
                            .getDirectParameters()
                            .get("weight")
                            .getArray();
            NDArray w0 = w.duplicate();
            float wNorm = w0.norm().getFloat();
            LoraConfig config =
                    LoraConfig.builder()
                            .rank(4)
                            .alpha(8)
                            .targets("up_proj", "q_proj")
                            .init(LoraInit.PISSA)
                            .pissaIterations(6)
                            .build();
            try (PeftModel peft = PeftModel.wrap(base, config)) {
                float scale = Math.max(1f, before.abs().max().getFloat());
                assertTrue(
                        TestModels.maxAbsDiff(peft.forward(x).head(), before) < 1e-4 * scale,
                        "PiSSA keeps the output");
                float residual = w.norm().getFloat();
                assertTrue(
                        residual < 0.95f * wNorm,
                        "W must lose its principal part: " + residual + " vs " + wNorm);
                for (Parameter p : peft.trainableParameters().values()) {
                    assertTrue(
                            p.getArray().abs().max().getFloat() > 1e-3f,
                            "A and B must be non-zero");
                }
                // top singular value of the residual is at most the 5th of W: check via the power
                // method
                assertTrue(
                        topSingular(w, 50) < topSingular(w0, 50),
                        "the residual's top singular value must shrink");
            }
            assertTrue(TestModels.maxAbsDiff(w, w0) < 1e-5, "closing restores W");
        }
    }

    private static float topSingular(NDArray m, int iterations) {
        NDArray v = m.getManager().ones(new ai.djl.ndarray.types.Shape(m.getShape().get(1), 1));
        for (int i = 0; i < iterations; i++) {
            v = m.transpose().matMul(m.matMul(v));
            v = v.div(v.norm());
        }
        return m.matMul(v).norm().getFloat();
    }
}
