package io.peft4j.core.tree;

import ai.djl.nn.Block;

/**
 * A block that stands in place of a base module and wraps it (a LoRA linear, say). The module tree
 * shows the wrapper at the base module's path and does not descend into it, so targeting the same
 * path again finds the wrapper, not its insides.
 */
public interface AdapterWrapper extends Block {

    /** {@return the original module this wrapper stands in for} */
    Block baseLayer();
}
