package io.peft4j.testing.toy;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.spi.AdapterLayer;
import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.AdditiveAdapterLayer;
import io.peft4j.core.spi.LayerCall;
import java.util.List;

/**
 * A Linear with per-input-feature gains: {@code y = W (x * (1 + g)) + b = W x + b + W (x * g)}, so
 * {@code g = 0} is the base exactly and merging scales W's columns by {@code 1 + g}.
 */
final class ToyLayer extends AdditiveAdapterLayer<ToyLayer.Gain> {

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

    ToyLayer(Block base, AdapterRuntime runtime) {
        super(base, runtime);
    }

    @Override
    protected void release(Gain e) {
        e.g.close();
    }

    @Override
    protected NDArray delta(Gain e, LayerCall call) {
        NDArray x = call.input();
        return Linear.linear(x.mul(call.value(e.g)), call.value(baseWeight()))
                .head(); // x first: results stay in the call's scope
    }

    /** {@return W with its columns scaled by 1 + g: a new array} */
    NDArray mergedWeight(Gain e) {
        return baseWeight().getArray().mul(e.g.getArray().add(1).reshape(1, -1));
    }

    /** Undoes {@link #mergedWeight} in place. */
    void unmergeWeight(Gain e) {
        try (NDArray factor = e.g.getArray().add(1).reshape(1, -1)) {
            baseWeight().getArray().divi(factor);
        }
    }
}
