package io.peft4j.tasks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import io.peft4j.core.PeftModel;
import io.peft4j.core.model.ActivationCheckpointing;
import io.peft4j.core.testing.ManagedTest;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.StepScope;
import io.peft4j.lora.LoraConfig;
import io.peft4j.models.LlamaForCausalLM;
import io.peft4j.testing.TinyModels;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Gradients with activation checkpointing equal those without, for LoRA adapters on a tiny decoder.
 */
class ActivationCheckpointingTest extends ManagedTest {

    private LlamaForCausalLM decoder() {
        return TinyModels.initialized(
                new LlamaForCausalLM(TinyModels.qwen2Config(200, 3).build()), manager, 21);
    }

    private static void randomize(PeftModel peft) {
        Random random = new Random(8);
        for (Parameter p : peft.trainableParameters().values()) {
            float[] v = new float[(int) p.getArray().size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (random.nextGaussian() * 0.2);
            }
            p.getArray().set(v);
        }
    }

    private List<long[]> sequences() {
        Random random = new Random(3);
        List<long[]> out = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            long[] ids = new long[7 + i];
            for (int t = 0; t < ids.length; t++) {
                ids[t] = random.nextInt(200);
            }
            out.add(ids);
        }
        return out;
    }

    private Map<String, float[]> gradients(PeftModel peft, CausalLmTask task) {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (NDManager step = manager.newSubManager()) {
            StepScope.borrowParameters(peft.trainableParameters().values(), step);
            NDList batch = task.batch(step, new int[] {0, 1, 2, 3});
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(task.loss(batch, true));
                ActivationCheckpointing.backwardPending();
            }
            for (Map.Entry<String, Parameter> e : peft.trainableParameters().entrySet()) {
                try (NDArray g = e.getValue().getArray().getGradient()) {
                    out.put(e.getKey(), g.toFloatArray());
                }
            }
            StepScope.zeroGradients(peft.trainableParameters().values());
        }
        return out;
    }

    @Test
    void loraGradientsWithCheckpointingEqualThoseWithout() {
        LlamaForCausalLM model = decoder();
        CausalLmTask task = CausalLmTask.ofTokenIds(model, sequences(), 10, 0);
        try (PeftModel peft =
                PeftModel.wrap(model, LoraConfig.builder().rank(4).allLinear().build())) {
            randomize(peft);
            Map<String, float[]> plain = gradients(peft, task);
            model.setGradientCheckpointing(true);
            Map<String, float[]> checkpointed = gradients(peft, task);
            assertEquals(plain.keySet(), checkpointed.keySet());
            int nonZeroLayers = 0;
            for (String name : plain.keySet()) {
                float[] e = plain.get(name);
                float[] a = checkpointed.get(name);
                double norm = 0;
                for (int i = 0; i < e.length; i++) {
                    assertEquals(e[i], a[i], 1e-5, name + "[" + i + "]");
                    norm += a[i] * a[i];
                }
                if (name.contains("layers.0.") && norm > 1e-8) {
                    nonZeroLayers++;
                }
            }
            // the first layer's adapters get their gradient only from the recomputation
            assertTrue(nonZeroLayers >= 7, "layer 0 adapters with a gradient: " + nonZeroLayers);
        }
    }

    @Test
    void aFineTunerStepWithCheckpointingUpdatesLikeOneWithout() {
        List<float[]> after = new ArrayList<>();
        for (boolean checkpointing : new boolean[] {false, true}) {
            LlamaForCausalLM model = decoder();
            model.setGradientCheckpointing(checkpointing);
            CausalLmTask task = CausalLmTask.ofTokenIds(model, sequences(), 10, 0);
            try (PeftModel peft =
                    PeftModel.wrap(model, LoraConfig.builder().rank(4).allLinear().build())) {
                randomize(peft);
                FineTuner.builder()
                        .learningRate(1e-2)
                        .maxSteps(2)
                        .batchSize(2)
                        .gradientAccumulation(2)
                        .progress(false)
                        .build()
                        .fit(peft, task, task);
                List<Float> all = new ArrayList<>();
                for (Parameter p : peft.trainableParameters().values()) {
                    for (float v : p.getArray().toFloatArray()) {
                        all.add(v);
                    }
                }
                float[] v = new float[all.size()];
                for (int i = 0; i < v.length; i++) {
                    v[i] = all.get(i);
                }
                after.add(v);
            }
        }
        assertEquals(after.get(0).length, after.get(1).length);
        for (int i = 0; i < after.get(0).length; i++) {
            assertEquals(after.get(0)[i], after.get(1)[i], 1e-5, "parameter element " + i);
        }
    }
}
