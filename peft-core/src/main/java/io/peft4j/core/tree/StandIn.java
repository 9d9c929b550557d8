package io.peft4j.core.tree;

import ai.djl.nn.Block;

/**
 * A block of a concrete DJL layer type that forwards to another block, so that a wrapper can go
 * into a field declared with that type. See {@link LinearStandIn}.
 */
interface StandIn extends Block {

    /** The block every call goes to. */
    Block target();

    /**
     * A stand-in for {@code target} that a field of type {@code fieldType} can hold, or {@code
     * null} when peft4j has none for that type. DJL's {@code Linear} is the layer type adapters
     * wrap that DJL's own blocks keep in typed fields; other concrete layer types (BatchNorm,
     * Embedding) have constructors DJL does not open to subclasses.
     */
    static Block forField(Class<?> fieldType, Block target) {
        if (fieldType.isAssignableFrom(LinearStandIn.class)) {
            return new LinearStandIn(target);
        }
        return null;
    }

    /** {@code b} itself, or the block it stands in for. */
    static Block unwrap(Object b) {
        return b instanceof StandIn s ? s.target() : (Block) b;
    }
}
