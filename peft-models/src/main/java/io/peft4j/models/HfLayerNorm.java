package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * Layer normalisation over the last axis with PyTorch's parameter names {@code weight} (ones) and
 * {@code bias} (zeros), both of shape {@code (dim)}. (DJL's own LayerNorm names them gamma/beta.)
 */
public final class HfLayerNorm extends AbstractBlock {

    private final long dim;
    private final float eps;
    private final Parameter weight;
    private final Parameter bias;

    /**
     * @param dim size of the normalised (last) axis
     * @param eps added to the variance
     */
    public HfLayerNorm(long dim, double eps) {
        this.dim = dim;
        this.eps = (float) eps;
        this.weight =
                addParameter(
                        Parameter.builder()
                                .setName("weight")
                                .setType(Parameter.Type.GAMMA)
                                .build());
        this.bias =
                addParameter(
                        Parameter.builder().setName("bias").setType(Parameter.Type.BETA).build());
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.head();
        NDArray w = ps.getValue(weight, x.getDevice(), training);
        NDArray b = ps.getValue(bias, x.getDevice(), training);
        return new NDList(x.getNDArrayInternal().layerNorm(x, new Shape(dim), w, b, eps).head());
    }

    @Override
    protected void prepare(Shape[] inputShapes) {
        weight.setShape(new Shape(dim));
        bias.setShape(new Shape(dim));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    @Override
    public String toString() {
        return "HfLayerNorm(" + dim + ", eps=" + eps + ")";
    }
}
