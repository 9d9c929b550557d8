package io.peft4j.testing.toy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.spi.AdapterLayer;
import io.peft4j.core.spi.AdapterRuntime;
import java.util.List;

/**
 * A Linear with per-input-feature gains: {@code y = W (x * (1 + g)) + b = W x + b + W (x * g)}, so
 * {@code g = 0} is the base exactly and merging scales W's columns by {@code 1 + g}.
 */
final class ToyLayer extends AdapterLayer<ToyLayer.Gain> {

    /** One adapter's gains on this layer. */
    static final class Gain extends AdapterLayer.Entry {
        final Parameter g;

        Gain(Parameter g) {
            this.g = g;
        }

        @Override
        public List<Parameter> blockParameters() {
            return List.of(g);
        }
    }

    private final Parameter weight;

    ToyLayer(Block base, AdapterRuntime runtime) {
        super(base, runtime);
        this.weight = base.getDirectParameters().get("weight");
    }

    long inFeatures() {
        return weight.getArray().getShape().get(1);
    }

    @Override
    protected Parameter baseWeight() {
        return weight;
    }

    @Override
    protected void release(Gain e) {
        e.g.close();
    }

    private NDArray delta(Gain e, NDArray x, ParameterStore ps, boolean training) {
        NDArray g = ps.getValue(e.g, x.getDevice(), training);
        NDArray w = ps.getValue(weight, x.getDevice(), training);
        return Linear.linear(x.mul(g), w).head(); // x first: results stay in the call's scope
    }

    @Override
    protected NDList forwardWith(
            Gain e,
            ParameterStore ps,
            NDList inputs,
            boolean training,
            PairList<String, Object> p) {
        NDList out = baseLayer().forward(ps, inputs, training, p);
        return withHead(out, out.head().add(delta(e, inputs.head(), ps, training)));
    }

    @Override
    protected NDArray blendIn(
            Gain e,
            NDArray x,
            NDArray y,
            NDArray baseY,
            NDArray rowMask,
            ParameterStore ps,
            boolean training) {
        return y.add(delta(e, x, ps, training).mul(rowMask));
    }

    /** {@return W with its columns scaled by 1 + g: a new array} */
    NDArray mergedWeight(Gain e) {
        return weight.getArray().mul(e.g.getArray().add(1).reshape(1, -1));
    }

    /** Undoes {@link #mergedWeight} in place. */
    void unmergeWeight(Gain e) {
        try (NDArray factor = e.g.getArray().add(1).reshape(1, -1)) {
            weight.getArray().divi(factor);
        }
    }
}
