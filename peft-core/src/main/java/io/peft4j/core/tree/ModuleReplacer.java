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
 * forward pass reads. Both are changed through reflection. A field declared as DJL's {@code Linear}
 * (as in DJL's {@code ScaledDotProductAttentionBlock}), {@code Embedding} or {@code
 * TrainableWordEmbedding} (as in DJL's {@code TrainableTextEmbedding}) gets a block of that type
 * that forwards to the replacement ({@link StandIn}); the children list holds the replacement
 * itself. A field of another concrete type that cannot hold the replacement is an error, raised
 * before anything changes.
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

        /** {@return the path that was replaced} */
        public String path() {
            return node.path();
        }

        /** {@return the block that was there before} */
        public Block original() {
            return original;
        }

        /** {@return the block that is there now} */
        public Block replacement() {
            return replacement;
        }

        /** Puts the original block back. */
        public void undo() {
            List<Block> originals = new ArrayList<>();
            fields.forEach(f -> originals.add(original));
            swap(node.parent().block(), node.childKey(), childIndex, original, fields, originals);
        }
    }

    /**
     * Replaces the module at {@code node} with {@code replacement}.
     *
     * @param node the module to replace
     * @param replacement the block that takes its place
     * @return the replacement made, to undo it later
     * @throws IllegalArgumentException if the node is the root, or a field of the parent that holds
     *     the module cannot hold the replacement's type
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
        List<Block> values = new ArrayList<>();
        for (Field field : ModuleTree.instanceFields(parent.getClass())) {
            Object held = ModuleTree.read(field, parent);
            if (held instanceof Block && StandIn.unwrap(held) == original) {
                Block value =
                        field.getType().isInstance(replacement)
                                ? replacement
                                : StandIn.forField(field.getType(), replacement);
                if (value == null) {
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
                                    + " (peft4j stands in for fields typed DJL's Linear, Embedding and"
                                    + " TrainableWordEmbedding, or their interfaces)."
                                    + " Declare such fields as ai.djl.nn.Block to allow adapters.");
                }
                holding.add(field);
                values.add(value);
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
        swap(parent, node.childKey(), childIndex, replacement, holding, values);
        return new Replacement(node, original, replacement, holding, childIndex);
    }

    private static void swap(
            Block parent,
            String childKey,
            int childIndex,
            Block child,
            List<Field> fields,
            List<Block> fieldValues) {
        if (childKey != null) {
            BlockList children = children(parent);
            children.remove(childIndex);
            children.add(childIndex, childKey, child);
        }
        for (int i = 0; i < fields.size(); i++) {
            Field field = fields.get(i);
            try {
                field.setAccessible(true);
                field.set(parent, fieldValues.get(i));
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
