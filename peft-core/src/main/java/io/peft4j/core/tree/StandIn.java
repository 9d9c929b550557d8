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
     * null} when peft4j has none for that type. The DJL layer types a method wraps are {@code
     * Linear} (every method) and the embeddings (LoRA, modules_to_save): {@code Linear}, {@code
     * Embedding} (with its interfaces {@code AbstractIndexedEmbedding}, {@code AbstractEmbedding})
     * and {@code TrainableWordEmbedding} (with {@code WordEmbedding}) have stand-ins. DJL's {@code
     * IdEmbedding} (in {@code BertBlock}) is final, so no block can stand in for it; no method
     * targets the other layer types (norms, convolutions).
     */
    static Block forField(Class<?> fieldType, Block target) {
        if (fieldType.isAssignableFrom(LinearStandIn.class)) {
            return new LinearStandIn(target);
        }
        if (fieldType.isAssignableFrom(EmbeddingStandIn.class)) {
            return EmbeddingStandIn.of(target);
        }
        if (fieldType.isAssignableFrom(WordEmbeddingStandIn.class)) {
            return WordEmbeddingStandIn.of(target);
        }
        return null;
    }

    /** {@code b} itself, or the block it stands in for. */
    static Block unwrap(Object b) {
        return b instanceof StandIn s ? s.target() : (Block) b;
    }
}
