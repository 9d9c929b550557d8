package io.peft4j.core.tree;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * The part of an {@link AdapterWrapper} that is the same for every method: the wrapped module is
 * the wrapper's child block, the wrapper is built ready to run, and its shapes are the wrapped
 * module's. A method's wrapper adds its forward pass and whatever state it keeps.
 */
public abstract class AbstractAdapterWrapper extends DelegatingBlock implements AdapterWrapper {

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

    /**
     * The wrapped module. Initialising the wrapper initialises only it (already initialized: that
     * only records its input shapes; adapter tensors are created with values and need no
     * initializer), and the wrapper's output shapes are its.
     *
     * @return the wrapped module
     */
    @Override
    protected final Block delegate() {
        return base;
    }

    /**
     * The method's forward pass around the wrapped module.
     *
     * @param ps the parameter store
     * @param inputs the module's inputs
     * @param training whether this is a training pass
     * @param params passed to children unchanged
     * @return the module's outputs with the adapter applied
     */
    @Override
    protected abstract NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params);

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        if (inputShapes.length == 0) {
            return new Shape[0]; // built around a base that recorded no input shapes: unknown
        }
        return super.getOutputShapes(inputShapes);
    }
}
