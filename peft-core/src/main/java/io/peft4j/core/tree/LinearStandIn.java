package io.peft4j.core.tree;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.ParameterList;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * A {@link Linear} that forwards everything to another block: what goes into a field declared as
 * {@code Linear} (DJL's {@code ScaledDotProductAttentionBlock.queryProjection} and its siblings, or
 * a user's block with typed fields) when an adapter wrapper takes that module's place.
 *
 * <p>Only the typed field holds the stand-in; the parent's children list holds the wrapper itself,
 * so DJL's parameter walks, saving and the module tree see the wrapper, never the stand-in. The
 * parent's forward pass reads the field and so runs the wrapper. Code that asks the field for its
 * parameters, shapes or children gets the wrapper's.
 */
final class LinearStandIn extends Linear implements StandIn {

    private final Block target;

    LinearStandIn(Block target) {
        // Linear's only constructor takes a builder; the parameters it declares are never used:
        // every call that would reach them goes to the target.
        super(Linear.builder().setUnits(1));
        this.target = target;
    }

    @Override
    public Block target() {
        return target;
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        return target.forward(ps, inputs, training, params);
    }

    @Override
    public boolean isInitialized() {
        return target.isInitialized();
    }

    @Override
    public void initialize(NDManager manager, DataType dataType, Shape... inputShapes) {
        target.initialize(manager, dataType, inputShapes);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return target.getOutputShapes(inputShapes);
    }

    @Override
    public Shape[] getInputShapes() {
        return target.getInputShapes();
    }

    @Override
    public PairList<String, Shape> describeInput() {
        return target.describeInput();
    }

    @Override
    public ParameterList getDirectParameters() {
        return target.getDirectParameters();
    }

    @Override
    public ParameterList getParameters() {
        return target.getParameters();
    }

    @Override
    public BlockList getChildren() {
        return target.getChildren();
    }

    @Override
    public void clear() {
        target.clear();
    }

    @Override
    public void cast(DataType dataType) {
        target.cast(dataType);
    }

    @Override
    public void saveParameters(DataOutputStream os) throws IOException {
        target.saveParameters(os);
    }

    @Override
    public void loadParameters(NDManager manager, java.io.DataInputStream is)
            throws IOException, ai.djl.MalformedModelException {
        target.loadParameters(manager, is);
    }

    @Override
    public String toString() {
        return target.toString();
    }
}
