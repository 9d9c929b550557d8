package io.peft4j.core.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The Adam update of a CPU FLOAT32 parameter in one pass over its memory, in Java: weight, gradient
 * and both moments are read once and written once, instead of the thirteen element-wise libtorch
 * passes (and as many temporaries) of the array form. Element for element it computes what the
 * array form does, in the same float operations and order (each libtorch pass rounds to float; so
 * does each Java float operation). The one difference is the square root: Java's is correctly
 * rounded, libtorch's vector one (MKL's) may be one unit in the last place off, so the two agree
 * within 1e-6 relative rather than bit for bit ({@code CpuAdamPassTest}).
 *
 * <p>The arrays are reached through {@link NDArray#toByteBuffer(boolean)}'s direct view of a CPU
 * tensor's memory. For a non-contiguous array the engine returns a copy instead, whose writes would
 * be lost, so each array that is written is checked once (per array) to be its own memory (a probe
 * write, read back through libtorch); an array that is not makes the caller fall back to the array
 * form.
 */
final class CpuAdamPass {

    /** The largest array a Java buffer can index, in float elements. */
    private static final long MAX_ELEMENTS = Integer.MAX_VALUE / Float.BYTES;

    private CpuAdamPass() {}

    /**
     * Whether this pass can update {@code weight} with the moments of {@code slot}: all on the CPU,
     * FLOAT32, indexable by a Java buffer.
     */
    static boolean applies(NDArray weight, NDArray grad, AdamMoments.Slot slot) {
        for (NDArray a : new NDArray[] {weight, grad, slot.expAvg, slot.expAvgSq}) {
            if (!Device.cpu().equals(a.getDevice()) || a.getDataType() != DataType.FLOAT32) {
                return false;
            }
        }
        return weight.size() <= MAX_ELEMENTS;
    }

    /**
     * Updates {@code weight} and the slot's moments in place, as {@code AdamMoments}' array form
     * does with the same arguments.
     *
     * @return false, having changed nothing, when an array to write is not its own memory
     */
    static boolean update(
            NDArray weight,
            NDArray grad,
            AdamMoments.Slot slot,
            AdamMoments.Hyper h,
            double decay,
            double stepSize,
            double biasCorrection2Sqrt) {
        NDArray[] written = {weight, slot.expAvg, slot.expAvgSq};
        boolean seenBefore = sameArrays(slot.onePassArrays, written);
        if (seenBefore && !slot.onePassOwnMemory) {
            return false;
        }
        ByteBuffer w = seenBefore ? view(weight) : probedView(weight);
        ByteBuffer m = seenBefore ? view(slot.expAvg) : probedView(slot.expAvg);
        ByteBuffer v = seenBefore ? view(slot.expAvgSq) : probedView(slot.expAvgSq);
        slot.onePassArrays = written;
        slot.onePassOwnMemory = w != null && m != null && v != null;
        if (!slot.onePassOwnMemory) {
            return false;
        }
        // read only: a copy of a non-contiguous gradient has the same values
        ByteBuffer g = grad.toByteBuffer(true).order(ByteOrder.nativeOrder());
        // each scalar as libtorch uses it against a FLOAT32 array: rounded to float once
        boolean decays = h.weightDecay() != 0;
        boolean epsOnCorrected = h.epsOnCorrected();
        float decayF = (float) decay;
        float beta1 = (float) h.beta1();
        float oneMinusBeta1 = (float) (1 - h.beta1());
        float beta2 = (float) h.beta2();
        float oneMinusBeta2 = (float) (1 - h.beta2());
        float correction2 = (float) biasCorrection2Sqrt;
        float eps = (float) h.eps();
        float step = (float) stepSize;
        int bytes = (int) (weight.size() * Float.BYTES);
        for (int at = 0; at < bytes; at += Float.BYTES) {
            float gi = g.getFloat(at);
            float wi = w.getFloat(at);
            if (decays) {
                wi = wi * decayF;
            }
            float mi = m.getFloat(at) * beta1 + gi * oneMinusBeta1;
            float vi = v.getFloat(at) * beta2 + (gi * gi) * oneMinusBeta2;
            float denom = (float) Math.sqrt(vi);
            if (epsOnCorrected) {
                denom = denom / correction2;
            }
            denom = denom + eps;
            m.putFloat(at, mi);
            v.putFloat(at, vi);
            w.putFloat(at, wi - (mi / denom) * step);
        }
        return true;
    }

    private static boolean sameArrays(NDArray[] checked, NDArray[] now) {
        if (checked == null) {
            return false;
        }
        for (int i = 0; i < now.length; i++) {
            if (checked[i] != now[i]) {
                return false;
            }
        }
        return true;
    }

    /** The direct view of an array known to be its own memory. */
    private static ByteBuffer view(NDArray a) {
        return a.toByteBuffer(true).order(ByteOrder.nativeOrder());
    }

    /**
     * The direct view of {@code a}'s own memory, or null when the engine gives a copy (a
     * non-contiguous array): a probe write through the view must be what libtorch reads back. The
     * copy the engine makes for such an array attaches to the array's manager, so the array sits in
     * a scope of its own meanwhile, which frees the copy.
     */
    private static ByteBuffer probedView(NDArray a) {
        try (NDManager probeScope = a.getManager().newSubManager()) {
            a.tempAttach(probeScope);
            ByteBuffer view = a.toByteBuffer(true);
            if (!view.isDirect()) {
                return null;
            }
            view.order(ByteOrder.nativeOrder());
            int original = view.getInt(0);
            int probe = original ^ 0x80000000; // the sign bit flipped: always another bit pattern
            view.putInt(0, probe);
            int seen;
            try (NDArray flat = a.reshape(a.size());
                    NDArray first = flat.get(0)) {
                seen = Float.floatToRawIntBits(first.getFloat());
            }
            view.putInt(0, original);
            return seen == probe ? view : null;
        }
    }
}
