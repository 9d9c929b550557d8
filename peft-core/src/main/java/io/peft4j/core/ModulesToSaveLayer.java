package io.peft4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.spi.AdapterLayer;
import io.peft4j.core.spi.AdapterParameters;
import io.peft4j.core.spi.AdapterRuntime;
import java.util.List;

/**
 * peft's {@code ModulesToSaveWrapper} for a {@link Linear} or an embedding: each adapter owns a
 * trainable copy of the module's weights (a new classifier head, say) and the copy runs in place of
 * the original while that adapter is active. DJL cannot deep-copy a block, so the copy is of the
 * tensors and the wrapper computes the layer itself; that is why only these two kinds are
 * supported.
 */
final class ModulesToSaveLayer extends AdapterLayer<ModulesToSaveLayer.Copy> {

    /** One adapter's copy. */
    static final class Copy extends AdapterLayer.Entry {
        final Parameter weight;
        final Parameter bias; // null for embeddings and bias-free linears
        NDArray savedWeight; // the original values while merged (set exactly while merged())
        NDArray savedBias;

        Copy(Parameter weight, Parameter bias) {
            this.weight = weight;
            this.bias = bias;
        }

        @Override
        public List<Parameter> blockParameters() {
            return bias == null ? List.of(weight) : List.of(weight, bias);
        }
    }

    private final Parameter baseWeight;
    private final Parameter baseBias;
    private final boolean embedding;

    ModulesToSaveLayer(
            Block base,
            Parameter baseWeight,
            Parameter baseBias,
            boolean embedding,
            AdapterRuntime runtime) {
        super(base, "original_module", runtime);
        this.baseWeight = baseWeight;
        this.baseBias = baseBias;
        this.embedding = embedding;
    }

    @Override
    protected Parameter baseWeight() {
        return baseWeight;
    }

    Parameter baseBias() {
        return baseBias;
    }

    /** A new trainable copy of the module's tensors for {@code adapter}. */
    Copy newCopy(String adapter, NDManager manager) {
        Parameter w =
                AdapterParameters.trainableCopy(
                        baseWeight, "modules_to_save." + adapter + ".weight", manager);
        Parameter b =
                baseBias == null
                        ? null
                        : AdapterParameters.trainableCopy(
                                baseBias, "modules_to_save." + adapter + ".bias", manager);
        return new Copy(w, b);
    }

    @Override
    protected void release(Copy c) {
        if (c.merged()) {
            // merged copies stay in the weights (merge_and_unload); drop the saved originals
            c.savedWeight.close();
            if (c.savedBias != null) {
                c.savedBias.close();
            }
            c.savedWeight = null;
            c.savedBias = null;
        }
        c.weight.close();
        if (c.bias != null) {
            c.bias.close();
        }
    }

    @Override
    protected NDList forwardWith(
            Copy c,
            ParameterStore ps,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDList out = baseLayer().forward(ps, inputs, training, params);
        return withHead(out, run(c, inputs.head(), ps, training));
    }

    @Override
    protected NDArray blendIn(
            Copy c,
            NDArray x,
            NDArray y,
            NDArray baseY,
            NDArray rowMask,
            ParameterStore ps,
            boolean training) {
        return y.add(run(c, x, ps, training).sub(baseY).mul(rowMask));
    }

    private NDArray run(Copy c, NDArray x, ParameterStore ps, boolean training) {
        NDArray w = ps.getValue(c.weight, x.getDevice(), training);
        if (embedding) {
            return Embedding.embedding(x, w, SparseFormat.DENSE).head();
        }
        NDArray b = c.bias == null ? null : ps.getValue(c.bias, x.getDevice(), training);
        return Linear.linear(x, w, b).head();
    }

    @Override
    public String toString() {
        return "ModulesToSave("
                + baseLayer().getClass().getSimpleName()
                + ", adapters="
                + adapterNames()
                + ")";
    }
}
