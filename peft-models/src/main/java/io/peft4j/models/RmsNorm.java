package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.ops.TransformerOps;

/**
 * Root-mean-square layer norm as in LLaMA: {@code x / sqrt(mean(x^2) + eps) * weight} over the last
 * axis. One parameter, {@code weight} of shape {@code (dim)}, initialised to ones. Computed in the
 * input's data type.
 */
public final class RmsNorm extends AbstractBlock {

    private final long dim;
    private final float eps;
    private final Parameter weight;

    /**
     * @param dim size of the normalised (last) axis
     * @param eps added to the mean square
     */
    public RmsNorm(long dim, double eps) {
        this.dim = dim;
        this.eps = (float) eps;
        this.weight =
                addParameter(
                        Parameter.builder()
                                .setName("weight")
                                .setType(Parameter.Type.GAMMA)
                                .build());
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.head();
        NDArray w = ps.getValue(weight, x.getDevice(), training);
        return new NDList(TransformerOps.rmsNorm(x, w, eps));
    }

    @Override
    protected void prepare(Shape[] inputShapes) {
        weight.setShape(new Shape(dim));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    @Override
    public String toString() {
        return "RmsNorm(" + dim + ", eps=" + eps + ")";
    }
}
