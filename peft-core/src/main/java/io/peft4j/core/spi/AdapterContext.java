package io.peft4j.core.spi;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleReplacer;
import io.peft4j.core.tree.ModuleTree;
import java.util.IdentityHashMap;

/**
 * What a method gets to attach an adapter: the model's block tree, the manager that owns adapter
 * arrays, the runtime switchboard, and module replacement with bookkeeping so a wrapper can be
 * taken out again when its last adapter leaves.
 */
public final class AdapterContext {

    private final Block root;
    private final NDManager manager;
    private final AdapterRuntime runtime;
    private final IdentityHashMap<Block, ModuleReplacer.Replacement> replacements =
            new IdentityHashMap<>();

    /**
     * A context over {@code root}; adapter arrays are attached to {@code manager}.
     *
     * @param root the model's root block
     * @param manager the manager that owns adapter arrays
     * @param runtime the switchboard adapter layers consult in forward
     */
    public AdapterContext(Block root, NDManager manager, AdapterRuntime runtime) {
        this.root = root;
        this.manager = manager;
        this.runtime = runtime;
    }

    /** {@return the model's root block} */
    public Block root() {
        return root;
    }

    /** {@return a fresh view of the model's modules (it reflects earlier replacements)} */
    public ModuleTree tree() {
        return ModuleTree.of(root);
    }

    /** {@return the manager that owns adapter arrays (closed with the PeftModel)} */
    public NDManager manager() {
        return manager;
    }

    /** {@return the switchboard adapter layers consult in forward} */
    public AdapterRuntime runtime() {
        return runtime;
    }

    /**
     * Puts {@code wrapper} where {@code node}'s block is, remembering how to undo it.
     *
     * @param node the module to replace
     * @param wrapper the block that takes its place
     */
    public void replace(ModuleNode node, Block wrapper) {
        replacements.put(wrapper, ModuleReplacer.replace(node, wrapper));
    }

    /**
     * Puts back the module that {@code wrapper} replaced. No-op if it replaced nothing.
     *
     * @param wrapper a block passed to {@link #replace} earlier
     */
    public void restore(Block wrapper) {
        ModuleReplacer.Replacement r = replacements.remove(wrapper);
        if (r != null) {
            r.undo();
        }
    }

    /**
     * Whether {@code wrapper} currently stands in for a module.
     *
     * @param wrapper the block to look for
     * @return whether {@code wrapper} is installed
     */
    public boolean isInstalled(Block wrapper) {
        return replacements.containsKey(wrapper);
    }
}
