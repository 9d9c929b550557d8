package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.training.ParameterStore;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.FloatRange;
import net.jqwik.api.constraints.IntRange;

/** LoRA's algebra over random shapes, ranks and alphas. */
class LoraProperties {

    @Property(tries = 60)
    void identityAtInitMergeEqualsUnmergedAndCountIsRTimesInPlusOut(
            @ForAll @IntRange(min = 1, max = 24) int in,
            @ForAll @IntRange(min = 1, max = 24) int out,
            @ForAll @IntRange(min = 1, max = 12) int rank,
            @ForAll @FloatRange(min = 0.5f, max = 64f) float alpha,
            @ForAll boolean rslora) {
        try (NDManager manager = NDManager.newBaseManager()) {
            Random random = new Random(in * 31L + out * 7L + rank);
            SequentialBlock block =
                    new SequentialBlock().add(TestModels.linear(manager, in, out, true, random));
            rank =
                    Math.min(
                            rank,
                            Math.max(in, out)); // LoRA refuses r above the module's dimensions
            block.initialize(manager, DataType.FLOAT32, new Shape(1, in));
            NDList x = new NDList(manager.randomNormal(new Shape(5, in)));
            NDArray base =
                    block.forward(new ParameterStore(manager, false), x, false).head().duplicate();
            LoraConfig config =
                    LoraConfig.builder()
                            .rank(rank)
                            .alpha(alpha)
                            .useRslora(rslora)
                            .targets("Linear")
                            .build();
            try (PeftModel peft = PeftModel.wrap(block, config)) {
                assertEquals(0f, TestModels.maxAbsDiff(peft.forward(x).head(), base));
                assertEquals((long) rank * (in + out), peft.trainableSummary().trainable());
                for (Parameter p : peft.trainableParameters().values()) {
                    float[] v = new float[(int) p.getArray().size()];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) random.nextGaussian() * 0.2f;
                    }
                    p.getArray().set(v);
                }
                NDArray unmerged = peft.forward(x).head().duplicate();
                float scale = Math.max(1f, unmerged.abs().max().getFloat());
                assertTrue(
                        TestModels.maxAbsDiff(unmerged, base) > 0f,
                        "non-zero adapter must change the output");
                peft.merge();
                assertTrue(TestModels.maxAbsDiff(peft.forward(x).head(), unmerged) < 2e-5 * scale);
                peft.unmerge();
                assertTrue(TestModels.maxAbsDiff(peft.forward(x).head(), unmerged) < 2e-5 * scale);
            }
        }
    }
}
