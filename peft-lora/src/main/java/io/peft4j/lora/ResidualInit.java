package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.Random;

/**
 * An init that sets A and B from the base weight W and leaves W the residual {@code W - s B A}, so
 * that the adapter's start is still exact (PiSSA, OLoRA). {@code s B A} is recorded for the layer
 * to add back when the adapter is detached unmerged. Linear only.
 */
abstract class ResidualInit extends LoraInitializer {

    /** W's residual is Linear's: never on an embedding table. */
    @Override
    public final boolean supportsEmbeddings() {
        return false;
    }

    /** The default init's values: placeholders, overwritten by {@link #afterAttach}. */
    @Override
    final float[][] linear(Random random, int r, long in, long out) {
        return KaimingUniformInit.INSTANCE.linear(random, r, in, out);
    }

    @Override
    final void afterAttach(String path, LoraLayer layer, LoraLayer.Weights w) {
        NDArray weight = layer.baseWeight().getArray();
        try (NDManager scratch = weight.getManager().newSubManager()) {
            NDArray wf = weight.toType(DataType.FLOAT32, true);
            wf.attach(scratch);
            NDArray[] ab = factors(path, wf, w, scratch);
            ab[1].toType(weight.getDataType(), false).copyTo(w.b.getArray());
            ab[0].toType(weight.getDataType(), false).copyTo(w.a.getArray());
        }
        try (NDArray delta = layer.weightDelta(w)) {
            NDArray shift = delta.duplicate();
            shift.attach(w.a.getArray().getManager());
            w.setBaseShift(shift);
            weight.subi(delta);
        }
    }

    /**
     * A (r, in) and B (out, r) from W.
     *
     * @param path the module's path, for errors
     * @param weight W (out, in) in float32
     * @param w the adapter's entry (its rank and scale)
     * @param scratch where to create the results and any intermediates (closed after the copy)
     * @return {A, B}, float32
     */
    abstract NDArray[] factors(String path, NDArray weight, LoraLayer.Weights w, NDManager scratch);
}
