package io.peft4j.mos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.testing.Supervised;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * MoS learns through FineTuner: the loss falls, the base and the index tables stay bit-identical.
 */
class MosTrainingTest {

    @Test
    void lossFallsAndOnlyPoolsChange() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Block base = TestModels.transformer(manager, 3);
            Block teacher = TestModels.transformer(manager, 4);
            Random random = new Random(1);
            int[] ids = new int[128 * 5];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = random.nextInt(TestModels.VOCAB);
            }
            NDArray inputs = manager.create(ids, new Shape(128, 5));
            NDArray targets =
                    teacher.forward(new ParameterStore(manager, false), new NDList(inputs), false)
                            .head();
            MosConfig config =
                    MosConfig.builder()
                            .equivalentRank(2)
                            .rank(3)
                            .shardsPerVector(2)
                            .privateRank(1)
                            .dropout(0)
                            .allLinear()
                            .build();
            try (PeftModel peft = PeftModel.wrap(base, config)) {
                Map<String, byte[]> frozenBefore = new HashMap<>();
                peft.adapter("default")
                        .frozenState()
                        .forEach((k, v) -> frozenBefore.put(k, v.toByteArray()));
                Map<Parameter, byte[]> baseBefore = new HashMap<>();
                for (Pair<String, Parameter> p : base.getParameters()) {
                    if (peft.baseParameters().contains(p.getValue())) {
                        baseBefore.put(p.getValue(), p.getValue().getArray().toByteArray());
                    }
                }
                TrainingData data = Supervised.pairs(inputs, targets);
                TrainingResult result =
                        FineTuner.builder()
                                .learningRate(3e-2)
                                .maxSteps(60)
                                .batchSize(16)
                                .seed(1)
                                .progress(false)
                                .build()
                                .fit(peft, Supervised.mse(peft), data);
                float first = Supervised.meanLoss(result, 0, 10);
                float last =
                        Supervised.meanLoss(
                                result, result.losses().size() - 10, result.losses().size());
                assertTrue(
                        last < 0.7f * first, "loss must fall: first " + first + ", last " + last);
                peft.adapter("default")
                        .frozenState()
                        .forEach(
                                (k, v) ->
                                        assertArrayEquals(frozenBefore.get(k), v.toByteArray(), k));
                baseBefore.forEach(
                        (p, bytes) ->
                                assertArrayEquals(
                                        bytes, p.getArray().toByteArray(), "base " + p.getName()));
            }
        }
    }
}
