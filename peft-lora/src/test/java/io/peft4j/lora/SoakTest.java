package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.testing.LiveArrays;
import io.peft4j.core.testing.Supervised;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.TrainingData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A long LoRA training run does not grow: live NDArrays stay flat and resident memory does not
 * climb. CI runs 3,000 steps; the long profile ({@code -Dpeft4j.soak.steps=10000}) prints the RSS
 * slope per 1,000 steps (goal: under 1 MB).
 */
class SoakTest {

    @Test
    void trainingDoesNotLeak() {
        int steps = Integer.getInteger("peft4j.soak.steps", 3000);
        int every = Math.max(40, steps / 15);
        List<long[]> samples = new ArrayList<>(); // step, live arrays, RSS kB
        try (NDManager manager = NDManager.newBaseManager()) {
            var base = TestModels.transformer(manager, 7);
            NDArray ids =
                    manager.randomInteger(
                            0,
                            TestModels.VOCAB,
                            new Shape(64, 5),
                            ai.djl.ndarray.types.DataType.INT32);
            NDArray targets =
                    manager.randomInteger(
                            0,
                            TestModels.VOCAB,
                            new Shape(64, 5),
                            ai.djl.ndarray.types.DataType.INT32);
            try (PeftModel peft =
                    PeftModel.wrap(
                            base,
                            LoraConfig.builder()
                                    .rank(4)
                                    .dropout(0.1f)
                                    .targets("q_proj", "v_proj", "down_proj")
                                    .build())) {
                TrainingData data = Supervised.pairs(ids, targets);
                FineTuner.builder()
                        .learningRate(1e-3)
                        .maxSteps(steps)
                        .batchSize(8)
                        .progress(false)
                        .seed(3)
                        .evaluation(
                                every,
                                (step, model, scratch) -> {
                                    // Direct buffers and JVM garbage only go back at a collection:
                                    // collect first,
                                    // so the sample shows memory that is really held.
                                    System.gc();
                                    samples.add(new long[] {step, LiveArrays.count(), rssKb()});
                                    return Map.of();
                                })
                        .build()
                        .fit(
                                peft,
                                (batch, training) -> {
                                    NDArray logits =
                                            peft.forward(new NDList(batch.get(0)), training).head();
                                    NDArray logp = logits.logSoftmax(-1);
                                    return logp.mul(batch.get(1).oneHot(TestModels.VOCAB))
                                            .sum(new int[] {-1})
                                            .neg()
                                            .mean();
                                },
                                data);
            }
        }
        assertTrue(samples.size() >= 5, "too few samples: " + samples.size());
        // skip the first third: the allocator, thread pools and JIT settle during the first steps
        int settled = samples.size() / 3;
        long[] first = samples.get(settled);
        long[] last = samples.get(samples.size() - 1);
        assertEquals(
                first[1], last[1], "live NDArrays grew from step " + first[0] + " to " + last[0]);
        double slopeKbPer1000 = slope(samples.subList(settled, samples.size()));
        System.out.printf(
                Locale.ROOT,
                "soak: %d steps, live arrays %d -> %d, RSS %d kB -> %d kB, slope %.1f kB per 1,000 steps%n",
                steps,
                first[1],
                last[1],
                first[2],
                last[2],
                slopeKbPer1000);
        // generous bound for CI's short run on a shared machine; the long profile's figure is the
        // one reported
        assertTrue(slopeKbPer1000 < 20_000, "RSS grows " + slopeKbPer1000 + " kB per 1,000 steps");
    }

    static long rssKb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    /** Least-squares slope of RSS over steps, in kB per 1,000 steps. */
    static double slope(List<long[]> s) {
        double n = s.size();
        double mx = s.stream().mapToDouble(v -> v[0]).sum() / n;
        double my = s.stream().mapToDouble(v -> v[2]).sum() / n;
        double num = 0;
        double den = 0;
        for (long[] v : s) {
            num += (v[0] - mx) * (v[2] - my);
            den += (v[0] - mx) * (v[0] - mx);
        }
        return den == 0 ? 0 : 1000 * num / den;
    }
}
