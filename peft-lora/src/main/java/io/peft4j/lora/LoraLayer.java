package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.Selection;
import io.peft4j.core.tree.AdapterWrapper;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * A module with LoRA adapters: it runs the base module, then adds the active adapter's low-rank
 * delta. Holds any number of named adapters, like peft's {@code LoraLayer}. Subclasses say what
 * the delta of one adapter is for their kind of base module.
 */
public abstract class LoraLayer extends AbstractBlock implements AdapterWrapper {

    /** Shape-free state of one adapter in one module. */
    static final class Weights {
        final Parameter a;
        final Parameter b;
        final Parameter magnitude; // DoRA only
        final float scaling;
        final float dropout;
        boolean merged;
        NDArray doraFactor; // m / ||W0 + sBA|| at merge time, to unmerge exactly
        NDArray pissaDelta0; // s B0 A0 taken out of W by PiSSA init, put back on detach

        Weights(Parameter a, Parameter b, Parameter magnitude, float scaling, float dropout) {
            this.a = a;
            this.b = b;
            this.magnitude = magnitude;
            this.scaling = scaling;
            this.dropout = dropout;
        }

        int rank() {
            return (int) a.getArray().getShape().get(0);
        }
    }

    protected final Block base;
    private final AdapterRuntime runtime;
    final Map<String, Weights> adapters = new LinkedHashMap<>();

    LoraLayer(Block base, AdapterRuntime runtime) {
        this.base = base;
        this.runtime = runtime;
        addChildBlock("base_layer", base);
        // The wrapper is built ready to run: DJL would otherwise try to re-initialize it (and its
        // already-loaded base) on the first training forward.
        inputShapes = new Shape[0];
    }

    @Override
    public Block baseLayer() {
        return base;
    }

    /** Names of the adapters in this module. */
    public Set<String> adapterNames() {
        return new LinkedHashSet<>(adapters.keySet());
    }

    void addAdapter(String name, Weights w) {
        adapters.put(name, w);
        addParameter(w.a);
        addParameter(w.b);
        if (w.magnitude != null) {
            addParameter(w.magnitude);
        }
    }

    void removeAdapter(String name) {
        Weights w = adapters.remove(name);
        if (w != null) {
            parameters.remove(w.a.getName());
            parameters.remove(w.b.getName());
            w.a.close();
            w.b.close();
            if (w.magnitude != null) {
                parameters.remove(w.magnitude.getName());
                w.magnitude.close();
            }
            if (w.doraFactor != null) {
                w.doraFactor.close();
            }
            if (w.pissaDelta0 != null) {
                w.pissaDelta0.close();
            }
        }
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDList out = base.forward(ps, inputs, training, params);
        Selection selection = runtime.current();
        if (selection.isNone() || adapters.isEmpty()) {
            return out;
        }
        NDArray x = inputs.head();
        NDArray y = out.head();
        if (!selection.isPerSample()) {
            Weights w = adapters.get(selection.single());
            if (w == null || w.merged) {
                return out;
            }
            y = addDelta(w, x, y, null, ps, training);
        } else {
            long batch = x.getShape().get(0);
            AdapterRuntime.checkPerSample(selection, batch, training);
            String[] names = selection.perSample();
            for (String name : new LinkedHashSet<>(Arrays.asList(names))) {
                Weights w = adapters.get(name);
                if (w == null || w.merged) {
                    continue;
                }
                NDArray m = selection.mask(name, y);
                y = addDelta(w, x, y, m, ps, training);
            }
        }
        NDList result = new NDList(y);
        for (int i = 1; i < out.size(); i++) {
            result.add(out.get(i));
        }
        return result;
    }

    /** The adapter's contribution to the output, given the input and the base output. */
    abstract NDArray delta(Weights w, NDArray x, NDArray baseOut, ParameterStore ps, boolean training);

    /**
     * {@code baseOut + delta}, or {@code baseOut + delta * rowMask} when a 0/1 mask (batch, 1, ...)
     * selects the samples of a mixed batch. A subclass may fuse the sum into the delta's last op
     * to save full-size temporaries; both paths then round alike, so a mixed batch still equals
     * the per-sample runs.
     */
    NDArray addDelta(Weights w, NDArray x, NDArray baseOut, NDArray rowMask, ParameterStore ps, boolean training) {
        NDArray delta = delta(w, x, baseOut, ps, training);
        return baseOut.add(rowMask == null ? delta : delta.mul(rowMask));
    }

    /** The dense weight delta {@code s B A} in the base weight's layout. */
    abstract NDArray weightDelta(Weights w);

    /** The base module's weight tensor that merging changes. */
    abstract Parameter baseWeight();

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        // A wrapped base is already initialized; this only records its input shapes. Adapter
        // tensors are created with values and need no initializer.
        base.initialize(manager, dataType, inputShapes);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return base.getOutputShapes(inputShapes);
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "(" + base.getClass().getSimpleName() + ", adapters=" + adapters.keySet() + ")";
    }
}
