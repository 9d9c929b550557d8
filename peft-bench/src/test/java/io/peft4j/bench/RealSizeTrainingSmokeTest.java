package io.peft4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The real-size harness at its toy shape end to end (its figures are never asserted), and its FLOP
 * count.
 */
class RealSizeTrainingSmokeTest {

    @Test
    void tinyTrainingAndCheckpointingRunAndReport() throws Exception {
        List<String> lines = RealSizeTraining.report("train05,checkpoint", 1, true);
        String all = String.join("\n", lines);
        assertTrue(lines.get(1).startsWith("train tiny LoRA r=8 all-linear 4x16: peak RSS"), all);
        assertTrue(all.contains("[activation checkpointing]"), all);
        assertTrue(all.contains("step GEMM / raw GEMM around the same step: "), all);
        assertTrue(
                all.matches(
                        "(?s).*activation checkpointing tiny 4x64: activation memory .* cut \\d+\\.\\d+x; step time"
                                + " checkpointed / plain \\(same process, per round\\): \\d.*"),
                all);
        assertThrows(
                IllegalArgumentException.class, () -> RealSizeTraining.report("trian", 1, true));
    }

    @Test
    void stepFlopsCountEveryProjectionTwiceAndTheHeadTwice() {
        // batch 2 x seq 1, rank 0: 2 FLOPs per multiply-add, 2 tokens, each projection forward and
        // input gradient; QK^T and PV (2 x batch x heads x seq x seq x headDim) forward and two
        // gradients
        io.peft4j.models.LlamaConfig c =
                io.peft4j.models.LlamaConfig.builder()
                        .vocabSize(10)
                        .hiddenSize(8)
                        .intermediateSize(16)
                        .numHiddenLayers(1)
                        .numAttentionHeads(2)
                        .numKeyValueHeads(1)
                        .build();
        double projections = 8 * 8 + 2 * 8 * 4 + 8 * 8 + 3 * 8 * 16;
        double attention = 2.0 * 2 * 2 * 1 * 1 * 4;
        assertEquals(
                2 * 2 * projections * 2 + 2 * attention * 3,
                RealSizeTraining.stepGemmFlops(c, 2, 1, 0),
                1e-9);
        // one more position adds a head over one scored position: logits and hidden gradient
        double twoPositions = RealSizeTraining.stepGemmFlops(c, 2, 2, 0);
        assertEquals(
                2 * 2 * 1 * 8 * 10 * 2,
                twoPositions - 2 * (2 * 2 * projections * 2) - 2 * attention * 3 * 4,
                1e-9);
    }
}
