package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.ops.InvertedDropout;
import io.peft4j.core.ops.Scalars;
import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.LayerCall;
import java.util.Random;

/**
 * LoRA on a {@link Linear}: {@code y = W x + b + s B A dropout(x)}; with DoRA ({@link
 * DoraLinearVariant}), {@code y = (m / ||W + sBA||) (W + sBA) x + b}.
 */
public final class LoraLinear extends LoraLayer {

    LoraLinear(Block base, AdapterRuntime runtime) {
        super(base, runtime);
    }

    /** (out, in) of the base weight. */
    long outFeatures() {
        return baseWeight().getArray().getShape().get(0);
    }

    long inFeatures() {
        return baseWeight().getArray().getShape().get(1);
    }

    /**
     * Inference over many tokens runs {@code x (W + s B A)^T + b}: one GEMM of the base's size plus
     * an (out, in) update, instead of the base GEMM plus a second pass over the (tokens, in) input
     * and a second (tokens, out) output. Worth it when the tokens outnumber {@code in out / (in +
     * out)} twice over (4096 tokens through MiniLM's 384x384 projections: the model's unmerged
     * forward went from 1.06-1.16x of the base's to 1.00-1.02x, peft-bench MiniLmLoraFigures).
     * Training keeps the unmerged path (it would otherwise pay the full weight-gradient GEMM LoRA
     * exists to avoid), as do variants other than the plain sum (DoRA), dropout and mixed batches.
     * Same sum up to float rounding.
     */
    @Override
    protected NDList forwardWith(Weights w, LayerCall call) {
        NDArray x = call.input();
        if (call.training()
                || !w.variant().isPlainSum()
                || call.inputs().size() != 1
                || !foldIsCheaper(x)) {
            return super.forwardWith(w, call);
        }
        // an inference call: the values read here take no gradient
        NDArray w0 = call.value(baseWeight());
        NDArray a = call.value(w.a);
        NDArray b = call.value(w.b);
        // Results attach to their first operand's manager: B A goes to the input's (the call's
        // scope) by hand, and the sum keeps it first, or every call would leave two (out, in)
        // arrays in the parameters' long-lived manager.
        NDArray ba = b.matMul(a);
        ba.attach(x.getManager());
        NDArray effective = Scalars.mul(ba, w.scaling).add(w0);
        Parameter bias = baseBias();
        NDArray biasArr = bias == null || !bias.isInitialized() ? null : call.value(bias);
        return Linear.linear(x, effective, biasArr);
    }

    private boolean foldIsCheaper(NDArray x) {
        long in = inFeatures();
        long out = outFeatures();
        long tokens = x.size() / in;
        return tokens * (in + out) > 2 * in * out;
    }

    /** {@return the adapter's input: {@code x}, with the adapter's dropout when training} */
    NDArray dropout(Weights w, NDArray x, boolean training) {
        return InvertedDropout.apply(x, w.dropout, training);
    }

    /** {@return {@code B A in}, unscaled} */
    NDArray lowRank(Weights w, NDArray in, LayerCall call) {
        return Linear.linear(Linear.linear(in, call.value(w.a)).head(), call.value(w.b)).head();
    }

    /**
     * Plain LoRA as one fused op: {@code addmm(y, s (x A^T), B^T)} (with a mixed batch's row mask
     * applied to the small {@code s x A^T}). The scaling goes on the (tokens, r) activation instead
     * of the (tokens, out) product, and the base output is the GEMM's bias, so no (tokens, out)
     * temporary is made besides the result (3 small ops instead of 4 with two full-size
     * temporaries; the same sum up to float rounding).
     */
    @Override
    NDArray addLowRank(Weights w, NDArray baseOut, NDArray rowMask, LayerCall call) {
        NDArray a = call.value(w.a);
        NDArray b = call.value(w.b);
        NDArray in = dropout(w, call.input(), call.training());
        NDArray h = Linear.linear(in, a).head();
        if (w.scaling != 1f) {
            h = Scalars.mul(h, w.scaling); // not h.mul(float): see Scalars (autograd-safe scalar)
        }
        if (rowMask != null) {
            h = h.mul(rowMask); // (batch, 1, ...) against (batch, ..., r)
        }
        Shape outShape = baseOut.getShape();
        if (outShape.dimension() == 2) {
            return Linear.linear(h, b, baseOut).head();
        }
        // libtorch's linear takes a bias that broadcasts to the 2-D GEMM output only: fold the
        // leading dimensions, then restore them (views, no copies, on contiguous arrays).
        long out = outShape.get(outShape.dimension() - 1);
        NDArray y2 =
                Linear.linear(
                                h.reshape(-1, h.getShape().get(h.getShape().dimension() - 1)),
                                b,
                                baseOut.reshape(-1, out))
                        .head();
        return y2.reshape(outShape);
    }

    /**
     * {@code s B A}, in the manager of the adapter's weights; the product before scaling is freed
     * here.
     */
    @Override
    NDArray weightDelta(Weights w) {
        try (NDArray product = w.b.getArray().matMul(w.a.getArray())) {
            return Scalars.mul(product, w.scaling);
        }
    }

    @Override
    Shape aShape(int r) {
        return new Shape(r, inFeatures());
    }

    @Override
    Shape bShape(int r) {
        return new Shape(outFeatures(), r);
    }

    @Override
    String aName() {
        return "lora_A";
    }

    @Override
    String bName() {
        return "lora_B";
    }

    @Override
    String fileKey(String tensorName) {
        return tensorName + ".weight";
    }

    @Override
    float[][] initialValues(LoraInitializer init, Random random, int r) {
        return init.linear(random, r, inFeatures(), outFeatures());
    }
}
