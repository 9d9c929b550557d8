package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.ops.Scalars;
import io.peft4j.core.spi.AdapterRuntime;

/**
 * LoRA on a {@link Linear}: {@code y = W x + b + s B A dropout(x)}; with DoRA, {@code y = (m / ||W
 * + sBA||) (W + sBA) x + b}, computed as peft does so the norm carries no gradient.
 */
public final class LoraLinear extends LoraLayer {

    private final Parameter weight;

    LoraLinear(Block base, AdapterRuntime runtime) {
        super(base, runtime);
        this.weight = base.getDirectParameters().get("weight");
    }

    /** (out, in) of the base weight. */
    long outFeatures() {
        return weight.getArray().getShape().get(0);
    }

    long inFeatures() {
        return weight.getArray().getShape().get(1);
    }

    @Override
    protected Parameter baseWeight() {
        return weight;
    }

    /**
     * Inference over many tokens runs {@code x (W + s B A)^T + b}: one GEMM of the base's size plus
     * an (out, in) update, instead of the base GEMM plus a second pass over the (tokens, in) input
     * and a second (tokens, out) output. Worth it when the tokens outnumber {@code in out / (in +
     * out)} twice over (4096 tokens through MiniLM's 384x384 projections: the model's unmerged
     * forward went from 1.06-1.16x of the base's to 1.00-1.02x, peft-bench MiniLmLoraFigures).
     * Training keeps the unmerged path (it would otherwise pay the full weight-gradient GEMM LoRA
     * exists to avoid), as do DoRA, dropout and mixed batches. Same sum up to float rounding.
     */
    @Override
    protected NDList forwardWith(
            Weights w,
            ParameterStore ps,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.head();
        if (training || w.magnitude != null || inputs.size() != 1 || !foldIsCheaper(x)) {
            return super.forwardWith(w, ps, inputs, training, params);
        }
        NDArray w0 = ps.getValue(weight, x.getDevice(), false);
        NDArray a = ps.getValue(w.a, x.getDevice(), false);
        NDArray b = ps.getValue(w.b, x.getDevice(), false);
        // Results attach to their first operand's manager: B A goes to the input's (the call's
        // scope) by hand, and the sum keeps it first, or every call would leave two (out, in)
        // arrays in the parameters' long-lived manager.
        NDArray ba = b.matMul(a);
        ba.attach(x.getManager());
        NDArray effective = Scalars.mul(ba, w.scaling).add(w0);
        Parameter bias = baseLayer().getDirectParameters().get("bias");
        NDArray biasArr =
                bias == null || !bias.isInitialized()
                        ? null
                        : ps.getValue(bias, x.getDevice(), false);
        return Linear.linear(x, effective, biasArr);
    }

    private boolean foldIsCheaper(NDArray x) {
        long in = inFeatures();
        long out = outFeatures();
        long tokens = x.size() / in;
        return tokens * (in + out) > 2 * in * out;
    }

    @Override
    NDArray delta(Weights w, NDArray x, NDArray baseOut, ParameterStore ps, boolean training) {
        NDArray a = ps.getValue(w.a, x.getDevice(), training);
        NDArray b = ps.getValue(w.b, x.getDevice(), training);
        NDArray in = training && w.dropout > 0 ? Dropout.dropout(x, w.dropout, true).head() : x;
        NDArray lora = Linear.linear(Linear.linear(in, a).head(), b).head();
        if (w.magnitude == null) {
            return Scalars.mul(lora, w.scaling);
        }
        // DoRA, as peft: the weight norm is detached (treated as a constant) for the gradient.
        // Results attach to their first operand's manager; those made from parameters alone are
        // moved to the call's (the input's) at once, or inference would pile them up in the
        // parameters' long-lived manager (training's FineTuner scopes the parameters themselves).
        NDManager call = x.getManager();
        NDArray w0 = ps.getValue(weight, x.getDevice(), training);
        NDArray norm = doraNorm(w0, w);
        norm.attach(call);
        NDArray m = ps.getValue(w.magnitude, x.getDevice(), training);
        NDArray scale = m.div(norm.stopGradient()); // (out)
        scale.attach(call);
        NDArray baseNoBias = in == x ? Linear.linear(x, w0).head() : Linear.linear(in, w0).head();
        return baseNoBias.mul(Scalars.sub(scale, 1)).add(Scalars.mul(lora.mul(scale), w.scaling));
    }

    /**
     * Plain LoRA as one fused op: {@code addmm(y, s (x A^T), B^T)} (with a mixed batch's row mask
     * applied to the small {@code s x A^T}). The scaling goes on the (tokens, r) activation instead
     * of the (tokens, out) product, and the base output is the GEMM's bias, so no (tokens, out)
     * temporary is made besides the result (3 small ops instead of 4 with two full-size
     * temporaries; the same sum up to float rounding).
     */
    @Override
    NDArray addDelta(
            Weights w,
            NDArray x,
            NDArray baseOut,
            NDArray rowMask,
            ParameterStore ps,
            boolean training) {
        if (w.magnitude != null) {
            return super.addDelta(w, x, baseOut, rowMask, ps, training);
        }
        NDArray a = ps.getValue(w.a, x.getDevice(), training);
        NDArray b = ps.getValue(w.b, x.getDevice(), training);
        NDArray in = training && w.dropout > 0 ? Dropout.dropout(x, w.dropout, true).head() : x;
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
     * Row norms of {@code W0 + s B A} (one per output unit), in the manager of the weights; the
     * intermediates are freed here.
     */
    NDArray doraNorm(NDArray w0, Weights w) {
        try (NDArray delta = weightDelta(w);
                NDArray full = delta.add(w0);
                NDArray squares = full.square();
                NDArray sums = squares.sum(new int[] {1})) {
            return sums.sqrt();
        }
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
}
