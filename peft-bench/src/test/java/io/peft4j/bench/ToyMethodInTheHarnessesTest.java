package io.peft4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.peft4j.testing.TinyModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The harnesses take their methods from the registry: the test-scope toy method (registered by
 * peft-examples' test-jar alone) is in the comparison's settings and the per-method step list, and
 * the built-in methods keep the settings the comparison ran them with.
 */
class ToyMethodInTheHarnessesTest {

    private static Map<String, MethodComparison.Setting> byKey(String task) {
        return MethodComparison.settings(task).stream()
                .collect(Collectors.toMap(MethodComparison.Setting::key, Function.identity()));
    }

    @Test
    void everyRegisteredMethodIsInTheComparisonWithItsBenchSettings() {
        Map<String, MethodComparison.Setting> sst2 = byKey("sst2");
        assertTrue(
                sst2.keySet()
                        .containsAll(
                                List.of("lora", "mos", "shadow", "masa", "lift", "full", "toy")),
                sst2.keySet().toString());
        assertEquals("lora", MethodComparison.settings("sst2").get(0).key(), "LoRA first");
        assertEquals(
                List.of(
                        "--method",
                        "toy",
                        "--rank",
                        "8",
                        "--alpha",
                        "16",
                        "--targets",
                        "query,value"),
                sst2.get("toy").args());
        assertEquals(
                List.of(
                        "--method",
                        "masa",
                        "--rank",
                        "8",
                        "--alpha",
                        "16",
                        "--targets",
                        "query,key,value"),
                sst2.get("masa").args());
        assertEquals(
                List.of(
                        "--method",
                        "lift",
                        "--rank",
                        "8",
                        "--alpha",
                        "16",
                        "--targets",
                        "all-linear",
                        "--set",
                        "density=1.0"),
                sst2.get("full").args());
        // full fine-tuning: a tenth of the adapter rate on the classifier only, as before; each
        // grid is the bench rate, 3x and 10x
        assertEquals(List.of("1e-4", "3e-4", "1e-3"), sst2.get("full").lrGrid());
        assertEquals(List.of("2e-3", "6e-3", "2e-2"), byKey("shakespeare").get("full").lrGrid());
        assertEquals(List.of("1e-3", "3e-3", "1e-2"), sst2.get("lora").lrGrid());
        assertEquals(
                List.of("--method", "shadow", "--rank", "8", "--alpha", "16"),
                sst2.get("shadow").args(),
                "no targets: ShadowPEFT picks its own modules");
        assertEquals(
                List.of(
                        "--method",
                        "mos",
                        "--rank",
                        "8",
                        "--alpha",
                        "16",
                        "--targets",
                        "all-linear"),
                byKey("shakespeare").get("mos").args());
    }

    @Test
    void theToyIsInTheStepHarnessAfterLora() {
        assertEquals("lora", MethodSteps.SETTINGS.get(0).key());
        MethodSteps.Setting toy =
                MethodSteps.SETTINGS.stream()
                        .filter(s -> s.key().equals("toy"))
                        .findFirst()
                        .orElseThrow(() -> new AssertionError(MethodSteps.SETTINGS.toString()));
        assertEquals("Toy q/v", toy.label());
        assertEquals(List.of("query", "value"), toy.targets());
    }

    @Test
    void theComparisonTrainsTheToy(@TempDir Path tmp) throws Exception {
        Path shared = tmp.resolve("shared");
        TinyModels.llama(shared.resolve("models/stories260K"));
        StringBuilder story = new StringBuilder();
        for (int i = 0; i < 300; i++) {
            story.append("the cat sat on the mat . the dog ran\n\n");
        }
        Files.createDirectories(shared.resolve("data/tinyshakespeare"));
        Files.writeString(shared.resolve("data/tinyshakespeare/input.txt"), story.toString());
        List<MethodComparison.Run> runs =
                MethodComparison.run(
                        new MethodComparison.Plan(
                                shared,
                                tmp.resolve("results"),
                                tmp.resolve("work"),
                                java.util.Map.of("shakespeare", 2),
                                32,
                                100,
                                List.of("shakespeare"),
                                List.of("toy"),
                                List.of(1L),
                                List.of("1e-3")));
        List<MethodComparison.Run> tests =
                runs.stream().filter(r -> r.phase().equals("test")).toList();
        assertEquals(1, tests.size(), runs.toString());
        MethodComparison.Run r = tests.get(0);
        assertEquals("toy", r.setting());
        assertTrue(
                r.ok() && r.trainable() > 0 && r.optimizerBytes() > 0 && Double.isFinite(r.after()),
                r.toString());
    }
}
