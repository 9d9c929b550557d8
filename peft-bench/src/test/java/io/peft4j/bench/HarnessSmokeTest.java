package io.peft4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * CI checks only that the harnesses start and their smallest case completes; the figures themselves
 * are measured by hand (peft-bench/README.md), never asserted.
 */
class HarnessSmokeTest {

    @Test
    void miniLmLoraFiguresSmallestCasesComplete() throws Exception {
        List<String> lines = MiniLmLoraFigures.run("train,forward,flops", 1, true);
        String all = String.join("\n", lines);
        assertTrue(all.contains("LoRA step / full fine-tuning step"), all);
        assertTrue(all.contains("unmerged LoRA r=8 q/v / base"), all);
        assertTrue(all.contains("full FT step throughput / raw matmul"), all);
    }

    @Test
    void dropoutTimingRunsBothMasks() {
        String all = String.join("\n", DropoutTiming.run("mask", 1, true));
        assertTrue(
                all.contains("bernoulli_ mask") && all.contains("Java mask / libtorch's: "), all);
    }

    @Test
    void adamStepTimingRunsBothForms() {
        String all = String.join("\n", AdamStepTiming.run("step", 1, true));
        assertTrue(all.contains("array form") && all.contains("one pass / array form: "), all);
    }

    @Test
    void methodStepsCoverEveryMethodAtLorasBudget() throws Exception {
        List<String> lines = MethodSteps.run("steps,memory", 1, true);
        String all = String.join("\n", lines);
        Map<String, Long> trainable = new HashMap<>();
        Pattern row = Pattern.compile("^  (.+?)\\s+([\\d,]+) trainable .* / LoRA: ");
        for (String line : lines) {
            Matcher m = row.matcher(line);
            if (m.find()) {
                trainable.put(m.group(1).trim(), Long.parseLong(m.group(2).replace(",", "")));
            }
        }
        for (MethodSteps.Setting s : MethodSteps.SETTINGS) {
            assertTrue(
                    trainable.containsKey(s.label()), "no step row for " + s.label() + ":\n" + all);
            assertTrue(all.contains(s.label() + " ") && all.contains("state "), all);
        }
        // the equal-budget claim: MoS and LIFT train exactly as many values as LoRA
        long lora = trainable.get("LoRA r=8 q/v");
        assertEquals(lora, trainable.get("MoS v=8 r=16 q/v"), all);
        assertTrue(all.contains("LIFT state / dense Adam's on the same matrices"), all);
        assertEquals(
                MethodSteps.SETTINGS.size(),
                lines.stream().filter(l -> l.contains("KiB   above loaded")).count(),
                all);
    }

    @Test
    void theJmhBenchmarkRuns() throws Exception {
        // in process (no fork), one short iteration per benchmark: checks the generated harness
        // and the benchmark bodies, not the numbers
        org.openjdk.jmh.runner.options.Options options =
                new org.openjdk.jmh.runner.options.OptionsBuilder()
                        .include(io.peft4j.bench.jmh.LoraLinearJmh.class.getSimpleName())
                        .param("shape", "64x1024")
                        .forks(0)
                        .warmupIterations(0)
                        .measurementIterations(1)
                        .measurementTime(org.openjdk.jmh.runner.options.TimeValue.milliseconds(100))
                        .build();
        java.util.Collection<org.openjdk.jmh.results.RunResult> results =
                new org.openjdk.jmh.runner.Runner(options).run();
        assertEquals(3, results.size(), "base, unmerged, merged");
        for (org.openjdk.jmh.results.RunResult r : results) {
            double score = r.getPrimaryResult().getScore();
            assertTrue(
                    score > 0 && Double.isFinite(score),
                    r.getParams().getBenchmark() + ": " + score);
        }
    }

    @Test
    void checkpointLoadingSmallestCaseCompletes() throws Exception {
        String all = String.join("\n", CheckpointLoading.run("tiny", 1, true));
        assertTrue(all.contains("peak RSS while loading / F32 weight bytes"), all);
        assertTrue(all.contains("load time / plain read time"), all);
    }

    @Test
    void loraForwardRatioStarts() {
        LoraForwardRatio.main(new String[] {"1", "2"});
    }
}
