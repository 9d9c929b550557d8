package io.peft4j.core.tree;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * A block whose work is another block's: its forward pass, initialisation and output shapes are
 * those of {@link #delegate()}. For a block that exists to give a module its place and name (BERT's
 * {@code encoder} around its {@code layer} list), for a view over another block, and as the base of
 * {@link AbstractAdapterWrapper}, which adds its own forward pass around the wrapped module.
 */
public abstract class DelegatingBlock extends AbstractBlock {

    /** For subclasses. */
    protected DelegatingBlock() {}

    /**
     * The block this one hands its work to. A subclass that owns it registers it as a child; a view
     * does not.
     *
     * @return the block doing the work
     */
    protected abstract Block delegate();

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        return delegate().forward(ps, inputs, training, params);
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        delegate().initialize(manager, dataType, inputShapes);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return delegate().getOutputShapes(inputShapes);
    }
}
