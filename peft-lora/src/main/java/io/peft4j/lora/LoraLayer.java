package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import io.peft4j.core.spi.AdapterLayer;
import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.LayerCall;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A module with LoRA adapters: it runs the base module, then adds the active adapter's low-rank
 * delta. Holds any number of named adapters, like peft's {@code LoraLayer}. Subclasses say what the
 * plain low-rank term is for their kind of base module; each adapter's {@link LoraVariant} (plain
 * LoRA, DoRA) says what the adapter does with it.
 */
public abstract class LoraLayer extends AdapterLayer<LoraLayer.Weights> {

    /** Shape-free state of one adapter in one module. */
    static final class Weights extends AdapterLayer.Entry {
        final Parameter a;
        final Parameter b;
        final float scaling;
        final float dropout;
        private LoraVariant variant;
        private NDArray baseShift; // what the init (PiSSA, OLoRA) took out of W, back on detach

        Weights(Parameter a, Parameter b, float scaling, float dropout) {
            this.a = a;
            this.b = b;
            this.scaling = scaling;
            this.dropout = dropout;
        }

        int rank() {
            return (int) a.getArray().getShape().get(0);
        }

        /** {@return the adapter's variant here (set once, by the injector)} */
        LoraVariant variant() {
            return variant;
        }

        void setVariant(LoraVariant variant) {
            if (this.variant != null) {
                throw new IllegalStateException("the variant of an adapter entry is set once");
            }
            this.variant = variant;
        }

        /**
         * Records what the init took out of the base weight ({@link
         * LoraInitializer#takeOutOfBase}); the layer adds it back when the adapter leaves unmerged.
         */
        void setBaseShift(NDArray shift) {
            this.baseShift = shift;
        }

        @Override
        public List<Parameter> blockParameters() {
            List<Parameter> all = new ArrayList<>(List.of(a, b));
            all.addAll(variant.parameters().values());
            return all;
        }
    }

    LoraLayer(Block base, AdapterRuntime runtime) {
        super(base, runtime);
    }

    @Override
    protected void release(Weights w) {
        if (w.baseShift != null && !w.merged()) {
            // the init (PiSSA, OLoRA) took s B0 A0 out of W at attach: give it back (a merged
            // adapter leaves W as merged, as merge_and_unload does)
            baseWeight().getArray().addi(w.baseShift);
        }
        w.a.close();
        w.b.close();
        w.variant.close();
        if (w.baseShift != null) {
            w.baseShift.close();
        }
    }

    @Override
    protected NDList forwardWith(Weights w, LayerCall call) {
        return call.adaptBaseHead(y -> w.variant.forward(this, w, y, null, call));
    }

    @Override
    protected NDArray blendIn(Weights w, NDArray y, NDArray rowMask, LayerCall call) {
        return w.variant.forward(this, w, y, rowMask, call);
    }

    /**
     * Plain LoRA's output: {@code baseOut + s B A dropout(x)} ({@code x} the call's input), or
     * {@code baseOut + (s B A dropout(x)) * rowMask} when a 0/1 mask (batch, 1, ...) selects the
     * samples of a mixed batch. A subclass may fuse the sum into the delta's last op to save
     * full-size temporaries; both paths then round alike, so a mixed batch still equals the
     * per-sample runs.
     */
    abstract NDArray addLowRank(Weights w, NDArray baseOut, NDArray rowMask, LayerCall call);

    /** The dense weight delta {@code s B A} in the base weight's layout. */
    abstract NDArray weightDelta(Weights w);

    /** {@return the shape of {@code lora_A} at rank {@code r}} */
    abstract Shape aShape(int r);

    /** {@return the shape of {@code lora_B} at rank {@code r}} */
    abstract Shape bShape(int r);

    /** {@return the name of A ({@code lora_A}); its parameter is this plus the adapter name} */
    abstract String aName();

    /** {@return the name of B ({@code lora_B})} */
    abstract String bName();

    /**
     * The key of A or B in peft's file after the module path ({@code lora_A.weight} for a Linear,
     * {@code lora_embedding_A} for an embedding).
     */
    abstract String fileKey(String tensorName);

    /** {@return A's and B's starting values that {@code init} gives this kind of module} */
    abstract float[][] initialValues(LoraInitializer init, Random random, int r);
}
