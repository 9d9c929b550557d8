package io.peft4j.core.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class TargetSpecToBuilderTest {

    @Test
    void toBuilderRebuildsAnEqualSpecThatCanThenDiffer() {
        TargetSpec names =
                TargetSpec.builder()
                        .targets("q_proj", "v_proj")
                        .exclude(List.of("lm_head"))
                        .layersToTransform(List.of(0, 2))
                        .layersPattern(List.of("layers"))
                        .outputHeads(List.of("score"))
                        .build();
        TargetSpec regex =
                TargetSpec.builder().targetRegex(".*proj").excludeRegex(".*k_proj").build();
        assertEquals(names, names.toBuilder().build());
        assertEquals(regex, regex.toBuilder().build());
        assertNotEquals(names, names.toBuilder().targets("k_proj").build());
    }
}
