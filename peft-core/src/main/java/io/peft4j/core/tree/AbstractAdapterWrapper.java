package io.peft4j.core.tree;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;

/**
 * The part of an {@link AdapterWrapper} that is the same for every method: the wrapped module is
 * the wrapper's child block, the wrapper is built ready to run, and its shapes are the wrapped
 * module's. A method's wrapper adds its forward pass and whatever state it keeps.
 */
public abstract class AbstractAdapterWrapper extends AbstractBlock implements AdapterWrapper {

    private final Block base;

    /**
     * Wraps {@code base}, an initialized module, registering it as child block {@code childName}
     * (peft's names: {@code base_layer}, {@code original_module}), so DJL's parameter walks and
     * names reach the base weights through the wrapper.
     *
     * @param base the module to wrap
     * @param childName the child block name of {@code base}
     */
    protected AbstractAdapterWrapper(Block base, String childName) {
        this.base = base;
        addChildBlock(childName, base);
        // The wrapper is built ready to run: DJL would otherwise try to re-initialize it (and its
        // already-loaded base) on the first training forward. The base's own input shapes, where it
        // recorded them, keep DJL's description of the model (Block.toString) working.
        Shape[] baseShapes = base.isInitialized() ? base.getInputShapes() : null;
        inputShapes = baseShapes != null ? baseShapes : new Shape[0];
    }

    @Override
    public final Block baseLayer() {
        return base;
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        // A wrapped base is already initialized; this only records its input shapes. Adapter
        // tensors are created with values and need no initializer.
        base.initialize(manager, dataType, inputShapes);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        if (inputShapes.length == 0) {
            return new Shape[0]; // built around a base that recorded no input shapes: unknown
        }
        return base.getOutputShapes(inputShapes);
    }
}
