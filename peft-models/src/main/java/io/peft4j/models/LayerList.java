package io.peft4j.models;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import ai.djl.util.PairList;
import java.util.List;

/**
 * An ordered list of layers whose children are named {@code "0"}, {@code "1"}, ... like PyTorch's
 * {@code nn.ModuleList}, so paths read {@code model.layers.3}.
 *
 * <p>Its own forward runs the layers in order: input {@code [hidden, context...]}; layer i gets
 * {@code [hidden_i, context...]} and the first array it returns becomes {@code hidden_{i+1}};
 * output {@code [hidden_n]}. Layers are always looked up in the children list at call time, so a
 * replaced child is the one that runs.
 */
public final class LayerList extends AbstractBlock {

    /**
     * @param layers the layers, in order
     */
    public LayerList(List<? extends Block> layers) {
        for (int i = 0; i < layers.size(); i++) {
            addChildBlock(Integer.toString(i), layers.get(i));
        }
    }

    /**
     * @return number of layers
     */
    public int size() {
        return children.size();
    }

    /**
     * @param index layer index
     * @return the block currently in that slot
     */
    public Block get(int index) {
        return children.get(index).getValue();
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDList context = inputs.subNDList(1);
        NDList state = new NDList(inputs.head());
        for (Pair<String, Block> child : children) {
            NDList in = new NDList(state.head());
            in.addAll(context);
            state = new NDList(child.getValue().forward(ps, in, training, params).head());
        }
        return state;
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        for (Pair<String, Block> child : children) {
            child.getValue().initialize(manager, dataType, inputShapes);
        }
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }
}
