package io.peft4j.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.peft4j.lora.LoraConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(180)
class DistributedFineTunerTest {

    static final int B = 4;
    static final int STEPS = 20;

    static LoraConfig lora() {
        return LoraConfig.builder()
                .rank(4)
                .alpha(8)
                .dropout(0f)
                .targets("query", "value")
                .modulesToSave(List.of("classifier"))
                .build();
    }

    static DistributedFineTuner.Builder trainer(int batchSize) {
        return DistributedFineTuner.builder()
                .model(ModelSource.classifier(LocalSpark.tinyBert().toString(), 2, 0, 7))
                .adapter(lora())
                .task(TrainingTask.classification("sentence", "label", 2))
                .learningRate(1e-2)
                .warmupSteps(2)
                .steps(STEPS)
                .batchSize(batchSize)
                .maxGradNorm(0.5) // small, so clipping (after averaging) is active
                .shuffle(false)
                .hashEvery(5);
    }

    /**
     * Worker k of 2 gets blocks k, k+2, k+4, ... of B rows, so that at every step the two workers'
     * batches together are exactly the single worker's batch of 2B rows.
     */
    static List<List<Row>> interleaved(List<Row> rows) {
        List<List<Row>> parts = List.of(new ArrayList<>(), new ArrayList<>());
        for (int i = 0; i < rows.size(); i++) {
            parts.get((i / B) % 2).add(rows.get(i));
        }
        return parts;
    }

    @Test
    void twoWorkersWithBatchBEqualOneWorkerWithBatch2B(@TempDir Path tmp) throws Exception {
        List<Row> rows = LocalSpark.sentences(32, 11);
        DistributedTrainingResult one =
                trainer(2 * B).build().fit(LocalSpark.frame(List.of(rows)), tmp.resolve("one"));
        DistributedTrainingResult two =
                trainer(B).build().fit(LocalSpark.frame(interleaved(rows)), tmp.resolve("two"));

        System.err.printf(
                "1 worker: %.3f s/step (exchange %.3f); 2 workers: %.3f s/step (exchange %.3f)%n",
                one.secondsPerStep(),
                one.exchangeSecondsPerStep(),
                two.secondsPerStep(),
                two.exchangeSecondsPerStep());
        System.err.println("losses 1: " + one.meanLosses() + "\nlosses 2: " + two.meanLosses());
        assertEquals(1, one.workers());
        assertEquals(2, two.workers());
        assertEquals(STEPS, two.steps());
        Map<String, float[]> a = SavedAdapters.read(tmp.resolve("one"));
        Map<String, float[]> b = SavedAdapters.read(tmp.resolve("two"));
        double diff = SavedAdapters.maxAbsDiff(a, b);
        assertTrue(
                diff <= 1e-5,
                "2 workers x batch "
                        + B
                        + " vs 1 worker x batch "
                        + 2 * B
                        + ": max abs diff "
                        + diff);
        // the mean loss per step is the same curve too
        for (int s = 0; s < STEPS; s++) {
            assertEquals(
                    one.meanLosses().get(s), two.meanLosses().get(s), 1e-5, "loss at step " + s);
        }
        // it trained: the loss fell and LoRA's B (zero at init) moved
        assertTrue(two.finalLoss() < two.meanLosses().get(0), "loss " + two.meanLosses());
        float maxB = 0;
        for (Map.Entry<String, float[]> e : b.entrySet()) {
            if (e.getKey().contains("lora_B")) {
                for (float v : e.getValue()) {
                    maxB = Math.max(maxB, Math.abs(v));
                }
            }
        }
        assertTrue(maxB > 1e-3, "lora_B stayed at " + maxB);
        // the replicas were compared after steps 5, 10, 15 (on the next exchange) and at the end
        assertEquals(STEPS / 5, two.hashChecks());
        long values = two.trainableValues();
        assertEquals(a.values().stream().mapToLong(v -> v.length).sum(), values);
        long base64 = 4 * ((values * 4 + 2) / 3);
        assertTrue(
                two.messageBytes() >= base64 && two.messageBytes() < base64 + 32,
                "message " + two.messageBytes() + " bytes for " + values + " floats");
        assertTrue(Files.isRegularFile(tmp.resolve("two").resolve("adapter_config.json")));
    }
}
