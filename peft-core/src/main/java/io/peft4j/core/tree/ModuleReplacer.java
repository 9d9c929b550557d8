package io.peft4j.core.tree;

import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;

/**
 * Swaps a module of a block tree for another block, in the parent's children list and in every
 * field of the parent that holds it, and puts the original back on {@link Replacement#undo()}.
 *
 * <p>DJL has no API to replace a child: the children list is the protected {@code
 * AbstractBlock.children} and most blocks also keep the child in a private typed field that their
 * forward pass reads. Both are changed through reflection. A field whose declared type cannot
 * hold the replacement (a field typed {@code Linear} when the replacement is a wrapper) is an
 * error, raised before anything changes.
 */
public final class ModuleReplacer {

    private static final Field CHILDREN_FIELD;

    static {
        try {
            CHILDREN_FIELD = AbstractBlock.class.getDeclaredField("children");
            CHILDREN_FIELD.setAccessible(true);
        } catch (NoSuchFieldException e) {
            throw new ExceptionInInitializerError(
                    "DJL's AbstractBlock has no 'children' field: unsupported DJL version");
        }
    }

    private ModuleReplacer() {}

    /** A done replacement that can be undone. */
    public static final class Replacement {
        private final ModuleNode node;
        private final Block original;
        private final Block replacement;
        private final List<Field> fields;
        private final int childIndex;

        private Replacement(
                ModuleNode node, Block original, Block replacement, List<Field> fields, int idx) {
            this.node = node;
            this.original = original;
            this.replacement = replacement;
            this.fields = fields;
            this.childIndex = idx;
        }

        /** The path that was replaced. */
        public String path() {
            return node.path();
        }

        /** The block that was there before. */
        public Block original() {
            return original;
        }

        /** The block that is there now. */
        public Block replacement() {
            return replacement;
        }

        /** Puts the original block back. */
        public void undo() {
            swap(node.parent().block(), node.childKey(), childIndex, fields, original);
        }
    }

    /**
     * Replaces the module at {@code node} with {@code replacement}.
     *
     * @throws IllegalArgumentException if the node is the root, or a field of the parent that
     *     holds the module cannot hold the replacement's type
     */
    public static Replacement replace(ModuleNode node, Block replacement) {
        if (node.isRoot()) {
            throw new IllegalArgumentException(
                    "Cannot replace the root block ("
                            + node.block().getClass().getName()
                            + "); wrap it in a parent block (e.g. a SequentialBlock) first");
        }
        Block parent = node.parent().block();
        Block original = node.block();
        List<Field> holding = new ArrayList<>();
        for (Field field : ModuleTree.instanceFields(parent.getClass())) {
            if (ModuleTree.read(field, parent) == original) {
                if (!field.getType().isInstance(replacement)) {
                    throw new IllegalArgumentException(
                            "Cannot replace module '"
                                    + node.path()
                                    + "': field "
                                    + parent.getClass().getName()
                                    + "."
                                    + field.getName()
                                    + " is declared as "
                                    + field.getType().getName()
                                    + " and cannot hold a "
                                    + replacement.getClass().getName()
                                    + ". Declare such fields as ai.djl.nn.Block to allow adapters.");
                }
                holding.add(field);
            }
        }
        int childIndex = -1;
        if (node.childKey() != null) {
            if (!(parent instanceof AbstractBlock)) {
                throw new IllegalArgumentException(
                        "Cannot replace module '"
                                + node.path()
                                + "': its parent "
                                + parent.getClass().getName()
                                + " is not an AbstractBlock, so its children list is unknown");
            }
            childIndex = children(parent).keys().indexOf(node.childKey());
            if (childIndex < 0) {
                throw new IllegalStateException(
                        "Module tree is stale: '" + node.path() + "' is no longer a child");
            }
        }
        swap(parent, node.childKey(), childIndex, holding, replacement);
        return new Replacement(node, original, replacement, holding, childIndex);
    }

    private static void swap(
            Block parent, String childKey, int childIndex, List<Field> fields, Block value) {
        if (childKey != null) {
            BlockList children = children(parent);
            children.remove(childIndex);
            children.add(childIndex, childKey, value);
        }
        for (Field field : fields) {
            try {
                field.setAccessible(true);
                field.set(parent, value);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(
                        "Cannot write field " + field + " to swap a module", e);
            }
        }
    }

    private static BlockList children(Block parent) {
        try {
            return (BlockList) CHILDREN_FIELD.get(parent);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("Cannot read AbstractBlock.children", e);
        }
    }
}
