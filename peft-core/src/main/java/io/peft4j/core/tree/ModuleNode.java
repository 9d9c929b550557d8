package io.peft4j.core.tree;

import ai.djl.nn.Block;

/**
 * One module of a block tree, seen under its Hugging Face style dotted path.
 *
 * @param path dotted path from the root ({@code ""} for the root itself)
 * @param block the block at that path
 * @param parent the parent node, {@code null} for the root
 * @param childKey the raw key in the parent's DJL children list (e.g. {@code 01q_proj}), or {@code
 *     null} when the block is reachable only through a field of the parent
 * @param fieldName the parent's field name the block was found through when it is not a registered
 *     child; {@code null} otherwise
 */
public record ModuleNode(
        String path, Block block, ModuleNode parent, String childKey, String fieldName) {

    /**
     * {@return the last path segment ({@code q_proj} for {@code model.layers.0.self_attn.q_proj})}
     */
    public String name() {
        int dot = path.lastIndexOf('.');
        return dot < 0 ? path : path.substring(dot + 1);
    }

    /** {@return whether this is the root of the tree} */
    public boolean isRoot() {
        return parent == null;
    }

    @Override
    public String toString() {
        return (path.isEmpty() ? "<root>" : path) + " (" + block.getClass().getSimpleName() + ")";
    }
}
