package io.peft4j.shadow;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import io.peft4j.core.ops.InvertedDropout;
import io.peft4j.core.ops.Scalars;
import io.peft4j.core.spi.AdapterParameters;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * One adapter's tensors: the shadow network (+ projection), the per-layer injection {@code D_k} (h,
 * b) ~ N(0, 0.02) and {@code U_k} (b, h) = 0 stacked over k = 0 .. L-2 as in the reference, the
 * per-layer update linears {@code G1_k} (g, h), {@code G2_k} (h, g), {@code T1_k} (g, h), {@code
 * T2_k} (h, g) with PyTorch's default init, and one affine LayerNorm shared over depth.
 */
final class ShadowWeights {

    final ShadowConfig config;
    final ShadowNetwork network;
    final int numLayers;
    final int hidden;
    final Parameter downs;
    final Parameter ups;
    final Parameter[] g1;
    final Parameter[] g2;
    final Parameter[] t1;
    final Parameter[] t2;
    final Parameter normWeight;
    final Parameter normBias;

    /** The shadow's own classification head, or null (causal LM, or the shared head). */
    final ShadowHeadCopy head;

    ShadowWeights(
            ShadowConfig config,
            ShadowNetwork network,
            int numLayers,
            int hidden,
            NDManager manager,
            DataType type,
            Device device,
            ShadowHeadCopy head) {
        this.config = config;
        this.head = head;
        this.network = network;
        this.numLayers = numLayers;
        this.hidden = hidden;
        int n = numLayers - 1;
        long h = hidden;
        long b = config.injectionSize();
        long g = config.gateSize();
        Random random = new Random(config.seed() * 7919L + 17);
        downs =
                AdapterParameters.trainable(
                        manager,
                        "injection_downs",
                        AdapterParameters.gaussian(random, n * h * b, 0.02),
                        new Shape(n, h, b),
                        type,
                        device);
        ups =
                AdapterParameters.trainable(
                        manager,
                        "injection_ups",
                        new float[Math.toIntExact(n * b * h)],
                        new Shape(n, b, h),
                        type,
                        device);
        g1 = new Parameter[n];
        g2 = new Parameter[n];
        t1 = new Parameter[n];
        t2 = new Parameter[n];
        for (int k = 0; k < n; k++) {
            // drawn in this order (the seed's stream): gate in, gate out, transform in, out
            g1[k] = Tensors.linearWeight(manager, "g1." + k, random, g, h, type, device);
            g2[k] = Tensors.linearWeight(manager, "g2." + k, random, h, g, type, device);
            t1[k] = Tensors.linearWeight(manager, "t1." + k, random, g, h, type, device);
            t2[k] = Tensors.linearWeight(manager, "t2." + k, random, h, g, type, device);
        }
        normWeight =
                AdapterParameters.trainable(
                        manager,
                        "hidden_norm.weight",
                        Tensors.filled(h, 1),
                        new Shape(h),
                        type,
                        device);
        normBias =
                AdapterParameters.trainable(
                        manager,
                        "hidden_norm.bias",
                        Tensors.filled(h, 0),
                        new Shape(h),
                        type,
                        device);
    }

    /** Every tensor by file key, in a stable order (the reference's module names). */
    Map<String, Parameter> parameters() {
        Map<String, Parameter> out = new LinkedHashMap<>(network.fileParameters());
        out.put("shadow_injection_model.injection_downs", downs);
        out.put("shadow_injection_model.injection_ups", ups);
        for (int k = 0; k < g1.length; k++) {
            out.put("shadow_update_model.update_gates." + k + ".0.weight", g1[k]);
            out.put("shadow_update_model.update_gates." + k + ".2.weight", g2[k]);
            out.put("shadow_update_model.update_transforms." + k + ".0.weight", t1[k]);
            out.put("shadow_update_model.update_transforms." + k + ".3.weight", t2[k]);
        }
        out.put("shadow_update_model.hidden_norm.weight", normWeight);
        out.put("shadow_update_model.hidden_norm.bias", normBias);
        if (head != null) {
            out.putAll(head.parameters());
        }
        return out;
    }

    /**
     * Tensors saved with the adapter but never trained: the DJL family's BatchNorm running
     * statistics (empty for the other families).
     */
    Map<String, NDArray> state() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        network.fileState().forEach((k, p) -> out.put(k, p.getArray()));
        return out;
    }

    /** s0: the shadow network on the base's layer-0 input. */
    NDArray initial(ParameterStore ps, NDArray hidden0, NDList context, boolean training) {
        return network.forward(ps, hidden0, context, training);
    }

    /** {@code alpha * dropout((h - s) D_k) U_k}, to be added to h before base layer k + 1. */
    NDArray injection(ParameterStore ps, int k, NDArray h, NDArray s, boolean training) {
        Device d = h.getDevice();
        NDArray down = ps.getValue(downs, d, training).get(k);
        NDArray up = ps.getValue(ups, d, training).get(k);
        // a slice of a parameter lands in the parameter's long-lived manager: move it into this
        // forward's scope, or every call leaves two arrays behind
        down.attach(h.getManager());
        up.attach(h.getManager());
        NDArray t = InvertedDropout.apply(h.sub(s).matMul(down), config.dropout(), training);
        return Scalars.mul(t.matMul(up), config.alpha());
    }

    /** {@code s + g * (t - s)} from the output of base layer k + 1. */
    NDArray update(ParameterStore ps, int k, NDArray hOut, NDArray s, boolean training) {
        Device d = hOut.getDevice();
        NDArray u =
                hOut.getNDArrayInternal()
                        .layerNorm(
                                hOut,
                                new Shape(hidden),
                                ps.getValue(normWeight, d, training),
                                ps.getValue(normBias, d, training),
                                1e-5f)
                        .head();
        NDArray gate =
                Tensors.linear(
                        Tensors.silu(Tensors.linear(u, ps.getValue(g1[k], d, training), null)),
                        ps.getValue(g2[k], d, training),
                        null);
        gate = gate.getNDArrayInternal().sigmoid();
        NDArray t =
                InvertedDropout.apply(
                        Tensors.silu(Tensors.linear(u, ps.getValue(t1[k], d, training), null)),
                        config.dropout(),
                        training);
        t = Tensors.linear(t, ps.getValue(t2[k], d, training), null);
        return s.add(gate.mul(t.sub(s)));
    }

    /**
     * The parameter store the head reads when it scores the shadow state (the own head's copies, if
     * any).
     */
    ParameterStore headStore(NDManager manager) {
        return head == null ? new ParameterStore(manager, false) : head.store(manager, false);
    }

    void close() {
        for (Parameter p : parameters().values()) {
            p.close();
        }
    }
}
