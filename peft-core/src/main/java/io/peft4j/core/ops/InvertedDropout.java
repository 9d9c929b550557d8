package io.peft4j.core.ops;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.Dropout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/**
 * Dropout as PyTorch's {@code torch.nn.functional.dropout} computes it in training: each element is
 * kept with probability {@code 1 - p} and scaled by {@code 1 / (1 - p)}, or zeroed ("inverted"
 * dropout, so evaluation needs no rescaling); the gradient is the same mask times the upstream
 * gradient.
 *
 * <p>Why not libtorch's own: on a CPU, libtorch 2.7 draws the mask with {@code bernoulli_}, one
 * element at a time from its Mersenne Twister unless MKL's generator applies (Intel CPUs only); on
 * this project's AMD machine BERT's dropouts took a fifth to a quarter of a LoRA train step. Here
 * the mask is drawn in Java with a {@link SplittableRandom} seeded from libtorch's generator (so
 * {@code Engine.setRandomSeed} still makes runs repeatable) and written straight into the mask
 * tensor's memory, branch-free: the whole dropout takes a quarter of libtorch's time (peft-bench
 * {@code DropoutTiming}). The keep test compares 32 random bits with {@code round(p * 2^32)}: the
 * drop probability is {@code p} within 2^-33, finer than the 24-bit uniform floats {@code
 * bernoulli_} compares. The random stream differs from libtorch's; the distribution does not.
 *
 * <p>Arrays off the CPU, other than FLOAT32, or over 2^31 bytes go to libtorch's dropout (a fused
 * kernel on CUDA).
 */
public final class InvertedDropout {

    private static final double TWO_TO_32 = 4294967296.0;

    private InvertedDropout() {}

    /**
     * Applies dropout with probability {@code p} when {@code training}; otherwise returns {@code x}
     * itself.
     *
     * @param x the input
     * @param p the probability of zeroing an element, in [0, 1]
     * @param training whether this is a training forward (evaluation never drops)
     * @return {@code x} when not training or {@code p == 0}; zeros shaped like {@code x} when
     *     {@code p == 1} (as PyTorch); else {@code x * mask}, attached to {@code x}'s manager
     * @throws IllegalArgumentException if {@code p} is not in [0, 1]
     */
    public static NDArray apply(NDArray x, float p, boolean training) {
        if (!(p >= 0 && p <= 1)) {
            throw new IllegalArgumentException("dropout probability must be in [0, 1], got " + p);
        }
        if (!training || p == 0) {
            return x;
        }
        if (p == 1) {
            return Scalars.mul(x, 0.0);
        }
        long bytes = x.size() * 4L;
        NDManager manager = x.getManager();
        if (!Device.cpu().equals(x.getDevice())
                || !Device.cpu().equals(manager.getDevice())
                || x.getDataType() != DataType.FLOAT32
                || bytes > Integer.MAX_VALUE) {
            return Dropout.dropout(x, p, true).head();
        }
        // an uninitialised CPU tensor whose memory the direct buffer views: filled in place, no
        // copy
        NDArray mask = manager.create(x.getShape(), DataType.FLOAT32);
        ByteBuffer view = mask.toByteBuffer(true);
        fillMask(view, (int) x.size(), p, seedFromEngine(manager));
        if (!view.isDirect()) {
            mask.set(view); // the engine gave a copy, not the tensor's memory: copy the mask in
        }
        return x.mul(mask);
    }

    /**
     * A seed drawn from libtorch's default generator, so the masks follow {@code
     * Engine.setRandomSeed} like every other random draw of a run.
     */
    private static long seedFromEngine(NDManager manager) {
        try (NDManager scratch = manager.newSubManager()) {
            return scratch.randomInteger(0, Long.MAX_VALUE, new Shape(1), DataType.INT64).getLong();
        }
    }

    /**
     * Writes {@code n} floats into {@code out}: {@code 1 / (1 - p)} where a 32-bit draw is at least
     * {@code round(p * 2^32)}, else 0. Branch-free (a mispredicted keep/drop branch costs more than
     * the draw), two elements per 64-bit draw.
     */
    static void fillMask(ByteBuffer out, int n, float p, long seed) {
        out.order(ByteOrder.nativeOrder());
        SplittableRandom random = new SplittableRandom(seed);
        long threshold = Math.round(p * TWO_TO_32);
        int keepBits = Float.floatToRawIntBits((float) (1.0 / (1.0 - p)));
        int i = 0;
        for (; i + 1 < n; i += 2) {
            long draw = random.nextLong();
            // (u - threshold) >> 63 is -1 exactly when u < threshold: that element is dropped
            long dropHigh = ((draw >>> 32) - threshold) >> 63;
            long dropLow = ((draw & 0xffffffffL) - threshold) >> 63;
            out.putInt(i * 4, keepBits & ~(int) dropHigh);
            out.putInt(i * 4 + 4, keepBits & ~(int) dropLow);
        }
        if (i < n) {
            long dropLast = ((random.nextLong() >>> 32) - threshold) >> 63;
            out.putInt(i * 4, keepBits & ~(int) dropLast);
        }
    }
}
