package io.peft4j.masa;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * A linear layer whose weight <em>is</em> {@code sum_s c_s D_s}: MASA trained from scratch. The
 * atoms {@code D} (S, out, in) are one parameter shared by every layer of a dictionary; the
 * coefficients {@code c} (S) and the optional bias belong to this layer. There is no dense weight.
 */
final class AtomLinear extends AbstractBlock {

    private final Parameter atoms;
    private final Parameter coefficients;
    private final Parameter bias; // null for bias-free projections
    private final long outFeatures;

    AtomLinear(Parameter atoms, Parameter coefficients, Parameter bias) {
        this.atoms = atoms;
        this.coefficients = coefficients;
        this.bias = bias;
        this.outFeatures = atoms.getArray().getShape().get(1);
        inputShapes = new Shape[0];
    }

    Parameter atoms() {
        return atoms;
    }

    Parameter coefficients() {
        return coefficients;
    }

    Parameter bias() {
        return bias;
    }

    /** The weight this layer computes with, {@code sum_s c_s D_s} (out, in). */
    NDArray weight(ParameterStore ps, ai.djl.Device device, boolean training) {
        NDArray d = ps.getValue(atoms, device, training);
        NDArray c = ps.getValue(coefficients, device, training);
        long s = d.getShape().get(0);
        return c.reshape(1, s)
                .matMul(d.reshape(s, -1))
                .reshape(d.getShape().get(1), d.getShape().get(2));
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.head();
        NDArray w = weight(ps, x.getDevice(), training);
        NDArray b = bias == null ? null : ps.getValue(bias, x.getDevice(), training);
        return Linear.linear(x, w, b);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape in = inputShapes[0];
        return new Shape[] {in.slice(0, in.dimension() - 1).add(outFeatures)};
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        // built with its tensors
    }

    @Override
    public String toString() {
        return "AtomLinear(S="
                + atoms.getArray().getShape().get(0)
                + ", out="
                + outFeatures
                + ", in="
                + atoms.getArray().getShape().get(2)
                + ")";
    }
}
