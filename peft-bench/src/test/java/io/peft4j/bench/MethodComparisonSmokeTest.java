package io.peft4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.peft4j.testing.TinyModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The comparison harness starts and its smallest case completes: three methods (MoS needs more
 * layers than the tiny model has), a two-rate grid on the validation split, two seeds on the test
 * split, 2 steps each on a tiny model; the table and chart come from the run files, and a second
 * run with the files present trains nothing.
 */
class MethodComparisonSmokeTest {

    @Test
    void smallestCaseWritesRunFilesTheTableAndTheChart(@TempDir Path tmp) throws Exception {
        Path shared = tmp.resolve("shared");
        TinyModels.llama(shared.resolve("models/stories260K"));
        StringBuilder story = new StringBuilder();
        for (int i = 0; i < 600; i++) {
            story.append("the cat sat on the mat . the dog ran\n\n");
        }
        Files.createDirectories(shared.resolve("data/tinyshakespeare"));
        Files.writeString(shared.resolve("data/tinyshakespeare/input.txt"), story.toString());
        Path out = tmp.resolve("results");
        MethodComparison.Plan plan =
                new MethodComparison.Plan(
                        shared,
                        out,
                        tmp.resolve("work"),
                        java.util.Map.of("shakespeare", 2),
                        64,
                        100,
                        List.of("shakespeare"),
                        List.of("lora", "lift", "full"),
                        List.of(1L, 2L),
                        List.of("1e-3", "3e-3"));
        List<MethodComparison.Run> runs = MethodComparison.run(plan);
        // 3 settings x (2 grid rates, and one more where the best was at the grid's edge; 2 seeds)
        long validation = runs.stream().filter(r -> r.phase().equals("validation")).count();
        assertEquals(6, runs.size() - validation, runs.toString());
        assertTrue(validation >= 6 && validation <= 9, runs.toString());
        for (MethodComparison.Run r : runs) {
            assertTrue(
                    r.ok()
                            && r.trainable() > 0
                            && r.optimizerBytes() > 0
                            && Double.isFinite(r.after()),
                    r.toString());
        }
        // the grid is scored on the validation split, the seeds on the test split: different text
        Path data = tmp.resolve("work/data/shakespeare");
        assertTrue(
                Files.size(data.resolve("validation.txt")) > 0
                        && Files.size(data.resolve("test.txt")) > 0);
        MethodComparison.Run grid =
                runs.stream().filter(r -> r.phase().equals("validation")).findFirst().orElseThrow();
        MethodComparison.Run test =
                runs.stream().filter(r -> r.phase().equals("test")).findFirst().orElseThrow();
        assertEquals(1L, grid.seed());
        // each setting's test runs use the rate its grid chose
        for (MethodComparison.Run t :
                runs.stream().filter(r -> r.phase().equals("test")).toList()) {
            String chosen =
                    MethodComparison.best(
                                    runs.stream()
                                            .filter(
                                                    r ->
                                                            r.phase().equals("validation")
                                                                    && r.setting()
                                                                            .equals(t.setting()))
                                            .toList())
                            .orElseThrow()
                            .lr();
            assertEquals(chosen, t.lr(), t.toString());
        }
        assertTrue(test.before() > 0 && grid.before() > 0);
        long files;
        try (var w = Files.walk(out.resolve(MethodComparison.RUNS))) {
            files = w.filter(p -> p.toString().endsWith(".json")).count();
        }
        assertEquals(runs.size(), files);
        // everything on file: a second run trains nothing and returns the same runs
        List<MethodComparison.Run> again = MethodComparison.run(plan);
        assertEquals(runs, again);
        MethodComparison.write(out, MethodComparison.load(plan), plan, "MethodComparison --smoke");
        String md = Files.readString(out.resolve("method-comparison.md"));
        assertTrue(
                md.contains("| shakespeare | LoRA r=8 | ")
                        && md.contains("LIFT r=8 largest")
                        && md.contains("full FT")
                        && md.contains(" ± ")
                        && md.contains("Learning-rate grid"),
                md);
        assertTrue(Files.size(out.resolve("method-comparison.png")) > 1000);
    }

    @Test
    void theBestRateIsTheHighestAccuracyOrTheLowestNllAndNeverADivergedOne() {
        MethodComparison.Run a = run("1e-3", "ok", "accuracy", 0.80);
        MethodComparison.Run b = run("3e-3", "ok", "accuracy", 0.85);
        MethodComparison.Run c = run("1e-2", "diverged", "accuracy", Double.NaN);
        assertEquals("3e-3", MethodComparison.best(List.of(a, b, c)).orElseThrow().lr());
        MethodComparison.Run d = run("1e-3", "ok", "nll", 3.1);
        MethodComparison.Run e = run("3e-3", "ok", "nll", 2.9);
        assertEquals("3e-3", MethodComparison.best(List.of(d, e)).orElseThrow().lr());
        assertTrue(MethodComparison.best(List.of(c)).isEmpty());
        assertEquals(1.0, MethodComparison.sd(new double[] {1, 2, 3}), 1e-12);
        assertEquals("3e-2", MethodComparison.neighbourRate("1e-2", true));
        assertEquals("1e-1", MethodComparison.neighbourRate("3e-2", true));
        assertEquals("3e-4", MethodComparison.neighbourRate("1e-3", false));
        assertEquals("1e-4", MethodComparison.neighbourRate("3e-4", false));
        // a 2-6-20 grid (2e-3 x 1, 3, 10) steps by 3x, named as the run files are
        assertEquals("6e-2", MethodComparison.neighbourRate("2e-2", true));
        assertEquals("6.67e-4", MethodComparison.neighbourRate("2e-3", false));
    }

    private static MethodComparison.Run run(String lr, String status, String metric, double after) {
        return new MethodComparison.Run(
                "t", "s", "S", "validation", lr, 1, 2, 64, status, metric, 0.5, after, 10, 80, 0.1);
    }
}
