package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.ops.Scalars;
import io.peft4j.core.spi.AdapterParameters;
import io.peft4j.core.spi.LayerCall;
import java.util.Map;

/**
 * DoRA (weight-decomposed LoRA) on a Linear, as Hugging Face peft's {@code DoraLinearVariant}:
 * {@code y = (m / ||W + s B A||) (W + s B A) x + b}, with a trainable magnitude {@code m} (one per
 * output unit, {@code lora_magnitude_vector}) that starts as the row norms of {@code W + s B A}, so
 * the adapter starts as the identity whatever A and B hold. The norm is detached from the gradient,
 * as in peft. Merging scales the merged weight by {@code m / ||W + s B A||}; that factor is kept to
 * unmerge exactly.
 */
final class DoraLinearVariant extends LoraVariant {

    /** The key of the magnitude in peft's file, after the module path. */
    static final String MAGNITUDE = "lora_magnitude_vector";

    /** The selection for configs with {@code use_dora}. */
    static final Choice CHOICE =
            new Choice() {
                @Override
                public String name() {
                    return "DoRA";
                }

                @Override
                public boolean supportsEmbeddings() {
                    return false;
                }

                @Override
                public LoraVariant create(
                        LoraLayer layer, LoraLayer.Weights w, String adapterName) {
                    return new DoraLinearVariant((LoraLinear) layer, w, adapterName);
                }

                @Override
                public String canonicalKey(String fileKey) {
                    // peft before 0.12 and some exporters keep the magnitude as ".weight"
                    String old = "." + MAGNITUDE + ".weight";
                    return fileKey.endsWith(old)
                            ? fileKey.substring(0, fileKey.length() - ".weight".length())
                            : fileKey;
                }
            };

    private final Parameter magnitude;
    private NDArray mergeFactor; // m / ||W0 + sBA|| at merge time, to unmerge exactly

    private DoraLinearVariant(LoraLinear layer, LoraLayer.Weights w, String adapterName) {
        NDArray w0 = layer.baseWeight().getArray();
        NDManager manager = w.a.getArray().getManager();
        NDArray norm = norm(w0, layer, w);
        magnitude = AdapterParameters.trainable(manager, MAGNITUDE + "." + adapterName, norm);
    }

    @Override
    Map<String, Parameter> parameters() {
        return Map.of(MAGNITUDE, magnitude);
    }

    @Override
    NDArray forward(
            LoraLayer layer,
            LoraLayer.Weights w,
            NDArray baseOut,
            NDArray rowMask,
            LayerCall call) {
        LoraLinear linear = (LoraLinear) layer;
        NDArray x = call.input();
        NDArray in = linear.dropout(w, x, call.training());
        NDArray lora = linear.lowRank(w, in, call);
        // Results attach to their first operand's manager; those made from parameters alone are
        // moved to the call's (the input's) at once, or inference would pile them up in the
        // parameters' long-lived manager (training's FineTuner scopes the parameters themselves).
        NDManager scope = x.getManager();
        NDArray w0 = call.value(linear.baseWeight());
        NDArray norm = norm(w0, linear, w);
        norm.attach(scope);
        NDArray m = call.value(magnitude);
        NDArray scale = m.div(norm.stopGradient()); // (out)
        scale.attach(scope);
        NDArray baseNoBias = Linear.linear(in, w0).head();
        NDArray delta =
                baseNoBias.mul(Scalars.sub(scale, 1)).add(Scalars.mul(lora.mul(scale), w.scaling));
        return addMasked(baseOut, delta, rowMask);
    }

    @Override
    NDArray mergedWeight(LoraLayer layer, LoraLayer.Weights w) {
        NDArray w0 = layer.baseWeight().getArray();
        try (NDArray delta = layer.weightDelta(w);
                NDArray norm = norm(w0, layer, w);
                NDArray ratio = magnitude.getArray().div(norm);
                NDArray sum = w0.add(delta)) {
            NDArray factor = ratio.reshape(-1, 1);
            factor.attach(magnitude.getArray().getManager());
            if (mergeFactor != null) {
                mergeFactor.close(); // left by a merge that another layer's NaN refused
            }
            mergeFactor = factor;
            return sum.mul(factor);
        }
    }

    @Override
    void unmerge(LoraLayer layer, LoraLayer.Weights w) {
        NDArray weight = layer.baseWeight().getArray();
        try (NDArray delta = layer.weightDelta(w)) {
            weight.divi(mergeFactor);
            mergeFactor.close();
            mergeFactor = null;
            weight.subi(delta);
        }
    }

    @Override
    void close() {
        magnitude.close();
        if (mergeFactor != null) {
            mergeFactor.close();
        }
    }

    /**
     * Row norms of {@code W0 + s B A} (one per output unit), in the manager of the weights; the
     * intermediates are freed here.
     */
    private static NDArray norm(NDArray w0, LoraLayer layer, LoraLayer.Weights w) {
        try (NDArray delta = layer.weightDelta(w);
                NDArray full = delta.add(w0);
                NDArray squares = full.square();
                NDArray sums = squares.sum(new int[] {1})) {
            return sums.sqrt();
        }
    }
}
