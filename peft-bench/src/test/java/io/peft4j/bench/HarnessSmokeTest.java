package io.peft4j.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * CI checks only that the harnesses start and their smallest case completes; the figures
 * themselves are measured by hand (peft-bench/README.md), never asserted.
 */
class HarnessSmokeTest {

    @Test
    void issue9SmallestCasesComplete() throws Exception {
        List<String> lines = Issue9.run("train,forward,flops", 1, true);
        String all = String.join("\n", lines);
        assertTrue(all.contains("LoRA step / full fine-tuning step"), all);
        assertTrue(all.contains("unmerged LoRA r=8 q/v / base"), all);
        assertTrue(all.contains("full FT step throughput / raw matmul"), all);
    }

    @Test
    void loraForwardRatioStarts() {
        LoraForwardRatio.main(new String[] {"1", "2"});
    }
}
