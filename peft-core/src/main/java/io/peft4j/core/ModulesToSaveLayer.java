package io.peft4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import io.peft4j.core.spi.AdapterLayer;
import io.peft4j.core.spi.AdapterParameters;
import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.LayerCall;
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

    private final Parameter table; // an embedding's table; null for a Linear

    /** Wraps a Linear ({@code table} null) or the embedding whose table is {@code table}. */
    ModulesToSaveLayer(Block base, Parameter table, AdapterRuntime runtime) {
        super(base, "original_module", runtime);
        this.table = table;
    }

    @Override
    public Parameter baseWeight() {
        return table != null ? table : super.baseWeight();
    }

    /** A new trainable copy of the module's tensors for {@code adapter}. */
    Copy newCopy(String adapter, NDManager manager) {
        Parameter w =
                AdapterParameters.trainableCopy(
                        manager, "modules_to_save." + adapter + ".weight", baseWeight());
        Parameter b =
                baseBias() == null
                        ? null
                        : AdapterParameters.trainableCopy(
                                manager, "modules_to_save." + adapter + ".bias", baseBias());
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
    protected NDList forwardWith(Copy c, LayerCall call) {
        return call.adaptBaseHead(baseY -> run(c, call));
    }

    @Override
    protected NDArray blendIn(Copy c, NDArray y, NDArray rowMask, LayerCall call) {
        return y.add(run(c, call).sub(call.baseOutput().head()).mul(rowMask));
    }

    private NDArray run(Copy c, LayerCall call) {
        NDArray w = call.value(c.weight);
        if (table != null) {
            return Embedding.embedding(call.input(), w, SparseFormat.DENSE).head();
        }
        NDArray b = c.bias == null ? null : call.value(c.bias);
        return Linear.linear(call.input(), w, b).head();
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
