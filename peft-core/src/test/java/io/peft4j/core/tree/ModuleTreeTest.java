package io.peft4j.core.tree;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.testing.ManagedTest;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ModuleTreeTest extends ManagedTest {

    @Test
    void hfNamesComeFromChildNamesWithoutDjlPrefixes() {
        ModuleTree tree = ModuleTree.of(TestModels.transformer(manager, 1));
        List<String> paths = tree.paths();
        assertTrue(paths.contains("layers.0.self_attn.q_proj"), paths.toString());
        assertTrue(paths.contains("layers.1.mlp.down_proj"), paths.toString());
        assertTrue(paths.contains("embed_tokens"));
        assertTrue(paths.contains("lm_head"));
        assertEquals("q_proj", tree.get("layers.0.self_attn.q_proj").name());
    }

    @Test
    void repeatedDjlNamesKeepTheirPosition() {
        ModuleTree tree = ModuleTree.of(TestModels.mlp(manager, 1));
        assertEquals(List.of("Linear_1", "LambdaBlock", "Linear_3"), tree.paths());
    }

    @Test
    void unknownPathNamesClosestOnes() {
        ModuleTree tree = ModuleTree.of(TestModels.transformer(manager, 1));
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> tree.get("layers.0.self_attn.q_prj"));
        assertTrue(e.getMessage().contains("layers.0.self_attn.q_proj"), e.getMessage());
    }

    /** A block that holds a child in a field but never registers it. */
    static final class FieldOnly extends AbstractBlock {
        private Block hidden;
        private final Linear typed;

        FieldOnly(Block hidden, Linear typed) {
            this.hidden = hidden;
            this.typed = addChildBlock("typed", typed);
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps, NDList in, boolean training, PairList<String, Object> p) {
            return hidden.forward(ps, in, training, p);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes;
        }
    }

    @Test
    void blocksHeldOnlyInFieldsAreFoundAndReplaceable() {
        Linear hidden = TestModels.linear(manager, 4, 4, true, new Random(1));
        Linear typed = TestModels.linear(manager, 4, 4, true, new Random(2));
        FieldOnly root = new FieldOnly(hidden, typed);
        ModuleTree tree = ModuleTree.of(root);
        assertEquals(List.of("typed", "hidden"), tree.paths());
        Linear other = TestModels.linear(manager, 4, 4, true, new Random(3));
        ModuleReplacer.Replacement r = ModuleReplacer.replace(tree.get("hidden"), other);
        assertSame(other, ModuleTree.of(root).get("hidden").block());
        NDArray x = manager.ones(new Shape(1, 4));
        NDArray viaRoot =
                root.forward(new ParameterStore(manager, false), new NDList(x), false).head();
        NDArray viaOther =
                other.forward(new ParameterStore(manager, false), new NDList(x), false).head();
        assertEquals(
                0f,
                TestModels.maxAbsDiff(viaRoot, viaOther),
                "forward must go through the swapped field");
        r.undo();
        assertSame(hidden, ModuleTree.of(root).get("hidden").block());
    }

    @Test
    void aFieldTypedLinearTakesAStandInThatForwardsToTheReplacement() {
        Linear typed = TestModels.linear(manager, 4, 4, true, new Random(2));
        FieldOnly root =
                new FieldOnly(TestModels.linear(manager, 4, 4, true, new Random(1)), typed);
        ModuleTree tree = ModuleTree.of(root);
        Block wrapper = new FieldOnly(typed, TestModels.linear(manager, 4, 4, true, new Random(4)));
        ModuleReplacer.Replacement r = ModuleReplacer.replace(tree.get("typed"), wrapper);
        assertSame(
                wrapper,
                ModuleTree.of(root).get("typed").block(),
                "the tree shows the replacement, not the stand-in");
        assertTrue(
                ModuleTree.of(root).nodes().stream().noneMatch(n -> n.block() instanceof StandIn),
                "no stand-in in the tree");
        assertTrue(
                root.typed instanceof LinearStandIn,
                "the field holds a Linear standing in for the replacement");
        NDArray x = manager.ones(new Shape(1, 4));
        // what the parent's forward does with its field: it runs the replacement
        NDArray viaField =
                root.typed.forward(new ParameterStore(manager, false), new NDList(x), false).head();
        NDArray expected =
                wrapper.forward(new ParameterStore(manager, false), new NDList(x), false).head();
        assertEquals(
                0f,
                TestModels.maxAbsDiff(viaField, expected),
                "forward must go through the replacement");
        r.undo();
        assertSame(typed, root.typed, "undo puts the original back in the field");
        assertSame(typed, ModuleTree.of(root).get("typed").block());
    }

    /** A block holding a child in a field of a concrete type peft4j has no stand-in for. */
    static final class NarrowField extends AbstractBlock {
        private final FieldOnly narrow;

        NarrowField(FieldOnly narrow) {
            this.narrow = addChildBlock("narrow", narrow);
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps, NDList in, boolean training, PairList<String, Object> p) {
            return narrow.forward(ps, in, training, p);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes;
        }
    }

    @Test
    void fieldTypedTooNarrowlyIsAClearErrorAndChangesNothing() {
        FieldOnly narrow =
                new FieldOnly(
                        TestModels.linear(manager, 4, 4, true, new Random(1)),
                        TestModels.linear(manager, 4, 4, true, new Random(2)));
        NarrowField root = new NarrowField(narrow);
        ModuleTree tree = ModuleTree.of(root);
        Block wrapper = TestModels.linear(manager, 4, 4, true, new Random(4));
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> ModuleReplacer.replace(tree.get("narrow"), wrapper));
        assertTrue(
                e.getMessage().contains("narrow")
                        && e.getMessage().contains(FieldOnly.class.getName())
                        && e.getMessage().contains("ai.djl.nn.core.Linear"),
                e.getMessage());
        assertSame(narrow, ModuleTree.of(root).get("narrow").block());
        assertSame(narrow, root.getChildren().get(0).getValue(), "the children list is unchanged");
    }

    @Test
    void rootCannotBeReplaced() {
        Block root = TestModels.mlp(manager, 1);
        ModuleTree tree = ModuleTree.of(root);
        assertThrows(
                IllegalArgumentException.class,
                () -> ModuleReplacer.replace(tree.find("").orElseThrow(), root));
    }
}
