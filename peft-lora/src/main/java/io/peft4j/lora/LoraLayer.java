package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.spi.AdapterLayer;
import io.peft4j.core.spi.AdapterRuntime;
import java.util.List;

/**
 * A module with LoRA adapters: it runs the base module, then adds the active adapter's low-rank
 * delta. Holds any number of named adapters, like peft's {@code LoraLayer}. Subclasses say what the
 * delta of one adapter is for their kind of base module.
 */
public abstract class LoraLayer extends AdapterLayer<LoraLayer.Weights> {

    /** Shape-free state of one adapter in one module. */
    static final class Weights extends AdapterLayer.Entry {
        final Parameter a;
        final Parameter b;
        final Parameter magnitude; // DoRA only
        final float scaling;
        final float dropout;
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

        @Override
        public List<Parameter> blockParameters() {
            return magnitude == null ? List.of(a, b) : List.of(a, b, magnitude);
        }
    }

    LoraLayer(Block base, AdapterRuntime runtime) {
        super(base, runtime);
    }

    @Override
    protected void release(Weights w) {
        if (w.pissaDelta0 != null && !w.merged()) {
            // PiSSA took s B0 A0 out of W at attach: give W its top part back (a merged adapter
            // leaves W as merged, as merge_and_unload does)
            baseWeight().getArray().addi(w.pissaDelta0);
        }
        w.a.close();
        w.b.close();
        if (w.magnitude != null) {
            w.magnitude.close();
        }
        if (w.doraFactor != null) {
            w.doraFactor.close();
        }
        if (w.pissaDelta0 != null) {
            w.pissaDelta0.close();
        }
    }

    @Override
    protected NDList forwardWith(
            Weights w,
            ParameterStore ps,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDList out = baseLayer().forward(ps, inputs, training, params);
        return withHead(out, addDelta(w, inputs.head(), out.head(), null, ps, training));
    }

    @Override
    protected NDArray blendIn(
            Weights w,
            NDArray x,
            NDArray y,
            NDArray baseY,
            NDArray rowMask,
            ParameterStore ps,
            boolean training) {
        return addDelta(w, x, y, rowMask, ps, training);
    }

    /** The adapter's contribution to the output, given the input and the base output. */
    abstract NDArray delta(
            Weights w, NDArray x, NDArray baseOut, ParameterStore ps, boolean training);

    /**
     * {@code baseOut + delta}, or {@code baseOut + delta * rowMask} when a 0/1 mask (batch, 1, ...)
     * selects the samples of a mixed batch. A subclass may fuse the sum into the delta's last op to
     * save full-size temporaries; both paths then round alike, so a mixed batch still equals the
     * per-sample runs.
     */
    NDArray addDelta(
            Weights w,
            NDArray x,
            NDArray baseOut,
            NDArray rowMask,
            ParameterStore ps,
            boolean training) {
        NDArray delta = delta(w, x, baseOut, ps, training);
        return baseOut.add(rowMask == null ? delta : delta.mul(rowMask));
    }

    /** The dense weight delta {@code s B A} in the base weight's layout. */
    abstract NDArray weightDelta(Weights w);

    /** The base module's weight tensor that merging changes. */
    @Override
    protected abstract Parameter baseWeight(); // declared here too, so this package may call it
}
