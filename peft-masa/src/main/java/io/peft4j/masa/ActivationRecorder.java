package io.peft4j.masa;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.tree.AbstractAdapterWrapper;

/**
 * Stands in for a target {@code Linear} while calibration inputs run through the model and sums the
 * Gram matrix {@code H = sum_t x_t x_t^T} (in x in, float64) of the inputs it sees: what the
 * data-aware refinement needs of the activations ({@code ||X W^T - X Ŵ^T||^2 = tr(E H E^T)} with
 * {@code E = W - Ŵ}). Only installed for the duration of {@link MasaCompressor#compress}.
 */
final class ActivationRecorder extends AbstractAdapterWrapper {

    private final NDManager manager;
    private NDArray gram;
    private long tokens;

    ActivationRecorder(Block base, NDManager manager) {
        super(base, "base_layer");
        this.manager = manager;
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.head();
        long in = x.getShape().get(x.getShape().dimension() - 1);
        try (NDManager scratch = manager.newSubManager(x.getDevice())) {
            NDArray flat = x.toType(DataType.FLOAT64, true).reshape(-1, in);
            flat.attach(scratch);
            NDArray g = flat.transpose().matMul(flat);
            if (gram == null) {
                gram = g;
                gram.attach(manager);
            } else {
                gram.addi(g);
            }
            tokens += flat.getShape().get(0);
        }
        return baseLayer().forward(ps, inputs, training, params);
    }

    /**
     * The summed Gram matrix (in, in), float64, owned by the recorder's manager; null if nothing
     * ran.
     */
    NDArray gram() {
        return gram;
    }

    /** How many input rows (tokens) were recorded. */
    long tokens() {
        return tokens;
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return baseLayer().getOutputShapes(inputShapes);
    }
}
