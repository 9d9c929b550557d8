package io.peft4j.tasks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.peft4j.core.PeftModel;
import io.peft4j.core.testing.LiveArrays;
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
 * The chunked next-token loss against the full-logits loss (values and LoRA gradients), and the
 * memory it promises: no array left behind per evaluation batch or train step, with a large vocab.
 */
class NextTokenLossTest extends ManagedTest {

    private LlamaForCausalLM decoder(int vocab) {
        return TinyModels.initialized(
                new LlamaForCausalLM(TinyModels.qwen2Config(vocab, 2).build()), manager, 11);
    }

    private static void randomize(PeftModel peft, long seed) {
        Random random = new Random(seed);
        for (Parameter p : peft.trainableParameters().values()) {
            float[] v = new float[(int) p.getArray().size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (random.nextGaussian() * 0.2);
            }
            p.getArray().set(v);
        }
    }

    /** Three rows of 9: the second padded after 6 tokens, the third scored only from position 4. */
    private NDList batch(NDManager m, int vocab) {
        Random random = new Random(5);
        long[][] ids = new long[3][9];
        long[][] mask = new long[3][9];
        float[][] scored = new float[3][9];
        for (int b = 0; b < 3; b++) {
            int real = b == 1 ? 6 : 9;
            for (int t = 0; t < 9; t++) {
                ids[b][t] = t < real ? random.nextInt(vocab) : 0;
                mask[b][t] = t < real ? 1 : 0;
                scored[b][t] = t >= 1 && t < real && (b != 2 || t >= 4) ? 1f : 0f;
            }
        }
        return new NDList(m.create(ids), m.create(mask), m.create(scored));
    }

    /**
     * The loss as it was computed before chunking: the whole (B, T, V) logits, then log-softmax.
     */
    private static NDArray fullLogitsLoss(LlamaForCausalLM model, NDList batch) {
        NDArray logits =
                model.forward(
                                new ParameterStore(batch.head().getManager(), false),
                                batch.subNDList(0, 2),
                                true)
                        .head();
        NDArray nll =
                logits.get(":, :-1, :")
                        .logSoftmax(-1)
                        .gather(batch.get(0).get(":, 1:").expandDims(-1), 2)
                        .squeeze(-1)
                        .neg();
        NDArray weights = batch.get(2).get(":, 1:");
        return nll.mul(weights).sum().div(weights.sum());
    }

    private static NDArray chunkedLoss(LlamaForCausalLM model, NDList batch, int chunkTokens) {
        NDArray[] sums =
                NextTokenLoss.sums(
                        model,
                        new ParameterStore(batch.head().getManager(), false),
                        batch.get(0),
                        batch.get(1),
                        batch.get(2),
                        true,
                        chunkTokens);
        return sums[0].div(sums[1]);
    }

    private interface Loss {
        NDArray of(NDList batch);
    }

    /** The loss value and a copy of every trainable gradient, gradients zeroed again after. */
    private Map<String, float[]> gradients(PeftModel peft, NDList batch, Loss loss, float[] value) {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (NDManager step = manager.newSubManager()) {
            StepScope.borrowParameters(peft.trainableParameters().values(), step);
            batch.tempAttach(step);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray l = loss.of(batch);
                value[0] = l.getFloat();
                gc.backward(l);
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

    private void assertSameLossAndGradients(LoraConfig config, int chunkTokens) {
        int vocab = 300;
        LlamaForCausalLM model = decoder(vocab);
        try (PeftModel peft = PeftModel.wrap(model, config)) {
            randomize(peft, 3);
            NDList batch = batch(manager, vocab);
            float[] full = new float[1];
            float[] chunked = new float[1];
            Map<String, float[]> expected =
                    gradients(peft, batch, b -> fullLogitsLoss(model, b), full);
            Map<String, float[]> actual =
                    gradients(peft, batch, b -> chunkedLoss(model, b, chunkTokens), chunked);
            assertEquals(full[0], chunked[0], 1e-5, "loss");
            assertTrue(full[0] > 1, "a random model's loss over 300 tokens is large: " + full[0]);
            assertEquals(expected.keySet(), actual.keySet());
            double norm = 0;
            for (String name : expected.keySet()) {
                float[] e = expected.get(name);
                float[] a = actual.get(name);
                for (int i = 0; i < e.length; i++) {
                    assertEquals(e[i], a[i], 1e-5, name + "[" + i + "]");
                    norm += e[i] * e[i];
                }
            }
            assertTrue(norm > 1e-6, "the adapters got a gradient");
        }
    }

    @Test
    void frozenHeadChunksGiveTheFullLogitsLossAndGradients() {
        // 20 scored positions in chunks of 3: seven head calls, the last one short
        assertSameLossAndGradients(LoraConfig.builder().rank(4).alpha(8).allLinear().build(), 3);
    }

    @Test
    void adaptedHeadChunksGiveTheFullLogitsLossAndGradients() {
        // LoRA on lm_head too: the head has parameters to train, so the chunks run under autograd
        assertSameLossAndGradients(
                LoraConfig.builder().rank(4).alpha(8).targetRegex(".*_proj|lm_head").build(), 4);
    }

    @Test
    void nothingScoredIsAZeroLossThatStillBackpropagates() {
        LlamaForCausalLM model = decoder(50);
        try (PeftModel peft =
                PeftModel.wrap(model, LoraConfig.builder().rank(2).allLinear().build())) {
            NDList batch = batch(manager, 50);
            batch.set(2, manager.zeros(new Shape(3, 9)));
            float[] value = new float[1];
            Map<String, float[]> g =
                    gradients(
                            peft,
                            batch,
                            b -> {
                                NDArray[] sums =
                                        NextTokenLoss.sums(
                                                model,
                                                new ParameterStore(manager, false),
                                                b.get(0),
                                                b.get(1),
                                                b.get(2),
                                                true,
                                                4);
                                assertEquals(0f, sums[1].getFloat());
                                return sums[0];
                            },
                            value);
            assertEquals(0f, value[0]);
            assertTrue(g.values().stream().allMatch(v -> v.length > 0));
        }
    }

    /** NDArrays alive in every manager of the engine (the system manager holds them all). */
    @Test
    void arraysStayConstantOverGeneratedTokens() {
        LlamaForCausalLM model = decoder(12_000);
        try (PeftModel peft =
                PeftModel.wrap(model, LoraConfig.builder().rank(4).allLinear().build())) {
            randomize(peft, 6);
            List<long[]> prompt = List.of(new long[] {5, 17, 300, 42});
            io.peft4j.models.GenerationConfig.Builder config =
                    io.peft4j.models.GenerationConfig.builder().eosTokenIds(java.util.Set.of());
            io.peft4j.models.Generator.generate(
                    model, prompt, config.maxNewTokens(2).build(), manager);
            int before = LiveArrays.count();
            long[] few =
                    io.peft4j.models.Generator.generate(
                                    model, prompt, config.maxNewTokens(4).build(), manager)
                            .get(0);
            int afterFew = LiveArrays.count();
            long[] many =
                    io.peft4j.models.Generator.generate(
                                    model, prompt, config.maxNewTokens(24).build(), manager)
                            .get(0);
            assertEquals(4, few.length);
            assertEquals(24, many.length);
            assertEquals(before, afterFew, "arrays left behind by generating 4 tokens");
            assertEquals(before, LiveArrays.count(), "arrays left behind by generating 24 tokens");
        }
    }

    @Test
    void arraysStayConstantAcrossEvaluationBatchesAndTrainStepsWithALargeVocab() {
        int vocab = 12_000;
        LlamaForCausalLM model = decoder(vocab);
        Random random = new Random(9);
        List<long[]> sequences = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            long[] ids = new long[10 + i % 3];
            for (int t = 0; t < ids.length; t++) {
                ids[t] = random.nextInt(vocab);
            }
            sequences.add(ids);
        }
        CausalLmTask task = CausalLmTask.ofTokenIds(model, sequences, 12, 0);
        try (PeftModel peft =
                PeftModel.wrap(model, LoraConfig.builder().rank(4).allLinear().build())) {
            randomize(peft, 4);
            task.evaluate(2); // first calls may build caches that live on
            int before = LiveArrays.count();
            double nll2 = task.evaluate(2).nll(); // 6 batches
            int afterSix = LiveArrays.count();
            double nll1 = task.evaluate(1).nll(); // 12 batches
            assertEquals(before, afterSix, "arrays left behind by 6 evaluation batches");
            assertEquals(before, LiveArrays.count(), "arrays left behind by 12 evaluation batches");
            assertEquals(nll2, nll1, 1e-5, "the batch size does not change the token-level NLL");
            assertTrue(nll1 > Math.log(vocab) * 0.5, "random model NLL " + nll1);

            List<Integer> counts = new ArrayList<>();
            FineTuner.builder()
                    .learningRate(1e-3)
                    .maxSteps(6)
                    .batchSize(2)
                    .progress(false)
                    .evaluation(
                            1,
                            (step, m, scope) -> {
                                counts.add(LiveArrays.count());
                                return Map.of();
                            })
                    .build()
                    .fit(peft, task, task);
            assertEquals(6, counts.size());
            for (int c : counts) {
                assertEquals(counts.get(0), c, "live arrays after each train step: " + counts);
            }
        }
        assertTrue(LiveArrays.count() > 0);
    }
}
