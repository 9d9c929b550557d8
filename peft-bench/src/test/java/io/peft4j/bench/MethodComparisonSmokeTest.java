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
 * The comparison harness starts and its smallest case (two methods (MoS needs more layers than the
 * tiny model has), 2 steps, a tiny model) completes.
 */
class MethodComparisonSmokeTest {

    @Test
    void smallestCaseWritesTheTableAndTheChart(@TempDir Path tmp) throws Exception {
        Path shared = tmp.resolve("shared");
        TinyModels.llama(shared.resolve("models/stories260K"));
        StringBuilder story = new StringBuilder();
        for (int i = 0; i < 600; i++) {
            story.append("the cat sat on the mat . the dog ran\n\n");
        }
        Files.createDirectories(shared.resolve("data/tinyshakespeare"));
        Files.writeString(shared.resolve("data/tinyshakespeare/input.txt"), story.toString());
        Path out = tmp.resolve("results");
        List<MethodComparison.Row> rows =
                MethodComparison.run(
                        shared,
                        out,
                        2,
                        64,
                        List.of("shakespeare"),
                        List.of("lora", "lift", "full"));
        assertEquals(3, rows.size(), "LoRA, LIFT and full FT (LIFT k=mn): " + rows);
        for (MethodComparison.Row r : rows) {
            assertTrue(
                    r.trainable() > 0 && r.optimizerBytes() > 0 && Double.isFinite(r.after()),
                    r.toString());
        }
        MethodComparison.write(out, rows, 2, 64);
        String md = Files.readString(out.resolve("method-comparison.md"));
        assertTrue(
                md.contains("| shakespeare | LoRA r=8 | 2e-3 |")
                        && md.contains("LIFT r=8")
                        && md.contains("full FT"),
                md);
        assertTrue(Files.size(out.resolve("method-comparison.png")) > 1000);
    }
}
