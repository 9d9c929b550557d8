package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.testing.Supervised;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** LoRA learns: fine-tuning a frozen MLP's adapter on a learnable task halves the loss. */
class LoraTrainingTest {

    @Test
    void lossFallsByHalfOnASyntheticTask() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Block base = TestModels.mlp(manager, 3);
            // Target: the base output plus a fixed linear function of the input.
            NDArray inputs =
                    manager.randomNormal(
                            0, 1, new Shape(256, 8), ai.djl.ndarray.types.DataType.FLOAT32);
            Random random = new Random(9);
            float[] m = new float[8 * 4];
            for (int i = 0; i < m.length; i++) {
                m[i] = (float) random.nextGaussian() * 0.5f;
            }
            NDArray shift = inputs.matMul(manager.create(m, new Shape(8, 4)));
            NDArray targets =
                    base.forward(new ParameterStore(manager, false), new NDList(inputs), false)
                            .head()
                            .add(shift);
            try (PeftModel peft =
                    PeftModel.wrap(
                            base,
                            LoraConfig.builder()
                                    .rank(4)
                                    .alpha(8)
                                    .targets("Linear_1", "Linear_3")
                                    .build())) {
                TrainingData data = Supervised.pairs(inputs, targets);
                TrainingResult result =
                        FineTuner.builder()
                                .learningRate(1e-2)
                                .maxSteps(300)
                                .batchSize(32)
                                .seed(1)
                                .progress(false)
                                .build()
                                .fit(peft, Supervised.mse(peft), data);
                float first = Supervised.meanLoss(result, 0, 10);
                float last =
                        Supervised.meanLoss(
                                result, result.losses().size() - 10, result.losses().size());
                assertTrue(
                        last < 0.5f * first,
                        "loss must fall by half: first " + first + ", last " + last);
            }
        }
    }
}
