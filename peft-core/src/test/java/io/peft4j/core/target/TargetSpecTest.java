package io.peft4j.core.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class TargetSpecTest {

    private static NDManager manager;
    private static ModuleTree tree;

    @BeforeAll
    static void build() {
        manager = NDManager.newBaseManager();
        tree = ModuleTree.of(TestModels.transformer(manager, 1));
    }

    @AfterAll
    static void close() {
        manager.close();
    }

    private static List<String> select(TargetSpec spec) {
        return spec.select(tree).stream().map(ModuleNode::path).collect(Collectors.toList());
    }

    @Test
    void namesMatchExactlyOrAsDottedSuffix() {
        assertEquals(
                List.of(
                        "layers.0.self_attn.q_proj",
                        "layers.0.self_attn.v_proj",
                        "layers.1.self_attn.q_proj",
                        "layers.1.self_attn.v_proj"),
                select(TargetSpec.builder().targets("q_proj", "v_proj").build()));
        assertEquals(
                List.of("layers.1.self_attn.q_proj"),
                select(TargetSpec.builder().targets("layers.1.self_attn.q_proj").build()));
        // "proj" is not a suffix after a dot, so it matches nothing
        assertThrows(
                IllegalArgumentException.class,
                () -> select(TargetSpec.builder().targets("proj").build()));
    }

    @Test
    void regexMustMatchTheWholePath() {
        assertEquals(
                List.of("layers.0.mlp.up_proj", "layers.1.mlp.up_proj"),
                select(TargetSpec.builder().targetRegex(".*up_proj").build()));
        assertThrows(
                IllegalArgumentException.class,
                () -> select(TargetSpec.builder().targetRegex("up_proj").build()));
    }

    @Test
    void allLinearLeavesOutTheHead() {
        List<String> paths = select(TargetSpec.builder().allLinear().build());
        assertEquals(12, paths.size(), paths.toString());
        assertTrue(paths.stream().noneMatch(p -> p.equals("lm_head")));
        assertTrue(paths.stream().noneMatch(p -> p.equals("embed_tokens")));
    }

    @Test
    void excludeAndLayersToTransform() {
        assertEquals(
                List.of("layers.1.self_attn.q_proj"),
                select(
                        TargetSpec.builder()
                                .targets("q_proj", "k_proj")
                                .exclude(List.of("k_proj"))
                                .layersToTransform(List.of(1))
                                .build()));
        assertEquals(
                List.of("layers.0.self_attn.k_proj"),
                select(
                        TargetSpec.builder()
                                .targets("q_proj", "k_proj")
                                .excludeRegex(".*q_proj")
                                .layersToTransform(List.of(0))
                                .layersPattern(List.of("layers"))
                                .build()));
    }

    @Test
    void noMatchListsClosestPaths() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> select(TargetSpec.builder().targets("query", "value").build()));
        assertTrue(
                e.getMessage().contains("[query, value]")
                        && e.getMessage().contains("Closest existing paths"),
                e.getMessage());
        assertTrue(
                e.getMessage().contains("v_proj") || e.getMessage().contains("q_proj"),
                e.getMessage());
    }

    @Test
    void badRegexIsNamed() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> TargetSpec.builder().targetRegex("(q_proj"));
        assertTrue(e.getMessage().contains("(q_proj"), e.getMessage());
    }

    @Test
    void patternValuesFollowPeftRule() {
        Map<String, Integer> ranks = new java.util.LinkedHashMap<>();
        ranks.put("q_proj", 4);
        ranks.put("layers\\.1\\..*", 2);
        assertEquals(4, PatternValues.lookup(ranks, "layers.0.self_attn.q_proj", 8));
        assertEquals(2, PatternValues.lookup(ranks, "layers.1.mlp.up_proj", 8));
        assertEquals(8, PatternValues.lookup(ranks, "layers.0.mlp.up_proj", 8));
        assertEquals(8, PatternValues.lookup(ranks, "layers.0.self_attn.xq_proj", 8));
    }
}
