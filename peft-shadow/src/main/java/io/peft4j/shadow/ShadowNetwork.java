package io.peft4j.shadow;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.transformer.TransformerEncoderBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.peft4j.core.ops.Scalars;
import io.peft4j.core.spi.AdapterParameters;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

/**
 * The shadow network: a small stack of layers of the base's family that reads the base's frozen
 * layer-0 input (the input embeddings) with the base layer's own context (attention-mask bias, and
 * rotary tables for LLaMA), then its final norm, then (when its width differs from the base's) a
 * bias-free projection back to the base width. Defined here so peft-shadow needs only peft-core.
 *
 * <p>Tensor keys (relative; the adapter prefixes {@code shadow_model.}):
 *
 * <ul>
 *   <li>LLaMA: {@code layers.j.input_layernorm.weight}, {@code
 *       layers.j.self_attn.{q,k,v,o}_proj.weight}, {@code
 *       layers.j.post_attention_layernorm.weight}, {@code layers.j.mlp.{gate,up,down}_proj.weight},
 *       {@code norm.weight};
 *   <li>BERT: {@code layer.j.attention.self.{query,key,value}.{weight,bias}}, {@code
 *       layer.j.attention.output.dense.{weight,bias}}, {@code
 *       layer.j.attention.output.LayerNorm.{weight,bias}}, {@code
 *       layer.j.intermediate.dense.{weight,bias}}, {@code layer.j.output.dense.{weight,bias}},
 *       {@code layer.j.output.LayerNorm.{weight,bias}};
 *   <li>DJL: {@code layers.j.<path in DJL's TransformerEncoderBlock>.<parameter>}, e.g. {@code
 *       layers.0.selfAttention.queryProjection.weight}, {@code layers.0.attentionNorm.gamma}; the
 *       BatchNorms' running statistics ({@code layers.j.attentionNorm.runningMean}, ...) are state,
 *       saved but not trained ({@link #fileState()});
 *   <li>all, when the widths differ: {@code embed_proj.weight} (shadow, base) in, and the
 *       projection out {@code shadow_hidden_projection.weight} (base, shadow), kept separately.
 * </ul>
 */
final class ShadowNetwork {

    final ShadowFamily family;
    final int layers;
    final int hidden;
    final int intermediate;
    final int heads;
    final int kvHeads;
    final int headDim;
    final float eps;
    final int baseHidden;
    private final Map<String, Parameter> params = new LinkedHashMap<>();

    /** Running statistics of the DJL family's BatchNorms: saved with the network, never trained. */
    private final Map<String, Parameter> state = new LinkedHashMap<>();

    /** The DJL family's layers: DJL's own encoder blocks at the shadow width. */
    private final List<TransformerEncoderBlock> djlLayers = new ArrayList<>();

    /** (base, shadow) output projection, or null when the widths agree. */
    final Parameter projection;

    /** A fresh network: linears N(0, 0.02), norms 1, biases 0, projection U(+-1/sqrt(in)). */
    ShadowNetwork(
            ShadowConfig c,
            int baseHidden,
            NDManager manager,
            DataType type,
            Device device,
            long seed) {
        this(c, baseHidden, manager, type, device, seed, null);
    }

    /**
     * A fresh network as above; {@code activation} is the DJL family's feed-forward activation (the
     * base's own; null: GELU), unused by the other families.
     */
    ShadowNetwork(
            ShadowConfig c,
            int baseHidden,
            NDManager manager,
            DataType type,
            Device device,
            long seed,
            Function<NDList, NDList> activation) {
        this.family = c.family();
        this.layers = c.numShadowLayers();
        this.hidden = c.shadowHiddenSize();
        this.intermediate = c.shadowIntermediateSize();
        this.heads = c.shadowNumAttentionHeads();
        this.kvHeads = c.shadowNumKeyValueHeads();
        this.headDim = hidden / heads;
        this.eps = (float) c.normEps();
        this.baseHidden = baseHidden;
        Random random = new Random(seed);
        long h = hidden;
        long kv = (long) kvHeads * headDim;
        if (hidden != baseHidden) {
            add(
                    manager,
                    "embed_proj.weight",
                    Tensors.uniform(random, h * baseHidden, 1 / Math.sqrt(baseHidden)),
                    new Shape(h, baseHidden),
                    type,
                    device);
        }
        for (int j = 0; j < layers; j++) {
            if (family == ShadowFamily.DJL) {
                addDjlLayer(
                        manager,
                        j,
                        random,
                        type,
                        c.dropout(),
                        activation == null ? Activation::gelu : activation);
            } else if (family == ShadowFamily.LLAMA) {
                String p = "layers." + j + ".";
                add(
                        manager,
                        p + "input_layernorm.weight",
                        Tensors.filled(h, 1),
                        new Shape(h),
                        type,
                        device);
                add(
                        manager,
                        p + "self_attn.q_proj.weight",
                        Tensors.gaussian(random, h * h, 0.02),
                        new Shape(h, h),
                        type,
                        device);
                add(
                        manager,
                        p + "self_attn.k_proj.weight",
                        Tensors.gaussian(random, kv * h, 0.02),
                        new Shape(kv, h),
                        type,
                        device);
                add(
                        manager,
                        p + "self_attn.v_proj.weight",
                        Tensors.gaussian(random, kv * h, 0.02),
                        new Shape(kv, h),
                        type,
                        device);
                add(
                        manager,
                        p + "self_attn.o_proj.weight",
                        Tensors.gaussian(random, h * h, 0.02),
                        new Shape(h, h),
                        type,
                        device);
                add(
                        manager,
                        p + "post_attention_layernorm.weight",
                        Tensors.filled(h, 1),
                        new Shape(h),
                        type,
                        device);
                long i = intermediate;
                add(
                        manager,
                        p + "mlp.gate_proj.weight",
                        Tensors.gaussian(random, i * h, 0.02),
                        new Shape(i, h),
                        type,
                        device);
                add(
                        manager,
                        p + "mlp.up_proj.weight",
                        Tensors.gaussian(random, i * h, 0.02),
                        new Shape(i, h),
                        type,
                        device);
                add(
                        manager,
                        p + "mlp.down_proj.weight",
                        Tensors.gaussian(random, h * i, 0.02),
                        new Shape(h, i),
                        type,
                        device);
            } else {
                String p = "layer." + j + ".";
                for (String name : new String[] {"query", "key", "value"}) {
                    add(
                            manager,
                            p + "attention.self." + name + ".weight",
                            Tensors.gaussian(random, h * h, 0.02),
                            new Shape(h, h),
                            type,
                            device);
                    add(
                            manager,
                            p + "attention.self." + name + ".bias",
                            Tensors.filled(h, 0),
                            new Shape(h),
                            type,
                            device);
                }
                add(
                        manager,
                        p + "attention.output.dense.weight",
                        Tensors.gaussian(random, h * h, 0.02),
                        new Shape(h, h),
                        type,
                        device);
                add(
                        manager,
                        p + "attention.output.dense.bias",
                        Tensors.filled(h, 0),
                        new Shape(h),
                        type,
                        device);
                add(
                        manager,
                        p + "attention.output.LayerNorm.weight",
                        Tensors.filled(h, 1),
                        new Shape(h),
                        type,
                        device);
                add(
                        manager,
                        p + "attention.output.LayerNorm.bias",
                        Tensors.filled(h, 0),
                        new Shape(h),
                        type,
                        device);
                long i = intermediate;
                add(
                        manager,
                        p + "intermediate.dense.weight",
                        Tensors.gaussian(random, i * h, 0.02),
                        new Shape(i, h),
                        type,
                        device);
                add(
                        manager,
                        p + "intermediate.dense.bias",
                        Tensors.filled(i, 0),
                        new Shape(i),
                        type,
                        device);
                add(
                        manager,
                        p + "output.dense.weight",
                        Tensors.gaussian(random, h * i, 0.02),
                        new Shape(h, i),
                        type,
                        device);
                add(
                        manager,
                        p + "output.dense.bias",
                        Tensors.filled(h, 0),
                        new Shape(h),
                        type,
                        device);
                add(
                        manager,
                        p + "output.LayerNorm.weight",
                        Tensors.filled(h, 1),
                        new Shape(h),
                        type,
                        device);
                add(
                        manager,
                        p + "output.LayerNorm.bias",
                        Tensors.filled(h, 0),
                        new Shape(h),
                        type,
                        device);
            }
        }
        if (family == ShadowFamily.LLAMA) {
            add(manager, "norm.weight", Tensors.filled(h, 1), new Shape(h), type, device);
        }
        projection =
                hidden == baseHidden
                        ? null
                        : AdapterParameters.trainable(
                                manager,
                                "shadow_hidden_projection.weight",
                                Tensors.uniform(
                                        random, (long) baseHidden * h, 1 / Math.sqrt((double) h)),
                                new Shape(baseHidden, h),
                                type,
                                device);
    }

    private void add(
            NDManager manager,
            String key,
            float[] values,
            Shape shape,
            DataType type,
            Device device) {
        params.put(key, AdapterParameters.trainable(manager, key, values, shape, type, device));
    }

    /**
     * Builds DJL's encoder block at the shadow width and takes its parameters under {@code
     * layers.j.}: weights N(0, 0.02), BatchNorm scales and running variances 1, biases, shifts and
     * running means 0 (as a fresh BatchNorm), all from the network's seed.
     */
    private void addDjlLayer(
            NDManager manager,
            int j,
            Random random,
            DataType type,
            float dropout,
            Function<NDList, NDList> activation) {
        TransformerEncoderBlock block =
                new TransformerEncoderBlock(hidden, heads, intermediate, dropout, activation);
        block.initialize(manager, DataType.FLOAT32, new Shape(1, 1, hidden));
        for (ModuleNode node : ModuleTree.of(block).nodes()) {
            for (Pair<String, Parameter> p : node.block().getDirectParameters()) {
                Parameter param = p.getValue();
                NDArray a = param.getArray();
                float[] values =
                        switch (param.getType()) {
                            case WEIGHT -> Tensors.gaussian(random, a.size(), 0.02);
                            case GAMMA, RUNNING_VAR -> Tensors.filled(a.size(), 1);
                            default -> Tensors.filled(a.size(), 0);
                        };
                a.set(values);
                String key =
                        "layers."
                                + j
                                + "."
                                + (node.path().isEmpty() ? "" : node.path() + ".")
                                + p.getKey();
                (param.requiresGradient() ? params : state).put(key, param);
            }
        }
        if (type != DataType.FLOAT32) {
            block.cast(type);
        }
        djlLayers.add(block);
    }

    /** The network's tensors by relative key (projection excluded). */
    Map<String, Parameter> parameters() {
        return Collections.unmodifiableMap(params);
    }

    /**
     * Every tensor: network under {@code shadow_model.}, then {@code
     * shadow_hidden_projection.weight}.
     */
    Map<String, Parameter> fileParameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        params.forEach((k, p) -> out.put("shadow_model." + k, p));
        if (projection != null) {
            out.put("shadow_hidden_projection.weight", projection);
        }
        return out;
    }

    /**
     * The DJL family's BatchNorm running statistics under {@code shadow_model.}: saved and loaded
     * with the network, updated by training passes, never given gradients; empty for the other
     * families.
     */
    Map<String, Parameter> fileState() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        state.forEach((k, p) -> out.put("shadow_model." + k, p));
        return out;
    }

    /** {@link #fileParameters()} then {@link #fileState()}: what a shadow file holds. */
    Map<String, Parameter> fileTensors() {
        Map<String, Parameter> out = fileParameters();
        out.putAll(fileState());
        return out;
    }

    long size() {
        long n = 0;
        for (Parameter p : fileParameters().values()) {
            n += p.getArray().size();
        }
        return n;
    }

    void close() {
        for (Parameter p : fileTensors().values()) {
            p.close();
        }
    }

    private NDArray w(ParameterStore ps, String key, Device device, boolean training) {
        return ps.getValue(params.get(key), device, training);
    }

    /**
     * The initial shadow state s0 in the base width.
     *
     * @param x (B, T, baseHidden) the base's layer-0 input
     * @param context the base layer's context: {@code [bias (B|1,1,T|1,S), cos?, sin?, ...]}
     */
    NDArray forward(ParameterStore ps, NDArray x, NDList context, boolean training) {
        if (family == ShadowFamily.DJL) {
            return djlForward(ps, x, context, training);
        }
        if (context.isEmpty()) {
            throw new IllegalArgumentException(
                    "the base layer got no attention-mask context; ShadowPEFT needs layers that take [hidden, bias, ...]");
        }
        Device d = x.getDevice();
        NDArray bias = context.get(0);
        NDArray cos = null;
        NDArray sin = null;
        if (family == ShadowFamily.LLAMA) {
            if (context.size() < 3) {
                throw new IllegalArgumentException(
                        "a LLAMA shadow needs the base layer's rotary tables [bias, cos, sin] in its"
                                + " context, but the context has "
                                + context.size()
                                + " arrays; use family BERT for encoders");
            }
            cos = context.get(1);
            sin = context.get(2);
            long rotary = cos.getShape().get(cos.getShape().dimension() - 1);
            if (rotary != headDim) {
                throw new IllegalArgumentException(
                        "shadow head width "
                                + headDim
                                + " (shadow_hidden_size "
                                + hidden
                                + " / "
                                + heads
                                + " heads) must equal the base's rotary width "
                                + rotary
                                + "; set shadow_num_attention_heads to "
                                + (hidden % rotary == 0
                                        ? String.valueOf(hidden / rotary)
                                        : "a divisor giving it"));
            }
        }
        NDArray h = x;
        if (hidden != baseHidden) {
            h = Tensors.linear(h, w(ps, "embed_proj.weight", d, training), null);
        }
        for (int j = 0; j < layers; j++) {
            h =
                    family == ShadowFamily.LLAMA
                            ? llamaLayer(ps, j, h, bias, cos, sin, training)
                            : bertLayer(ps, j, h, bias, training);
        }
        if (family == ShadowFamily.LLAMA) {
            h = rms(h, w(ps, "norm.weight", d, training));
        }
        if (projection != null) {
            h = Tensors.linear(h, ps.getValue(projection, d, training), null);
        }
        return h;
    }

    /**
     * DJL family: the encoder blocks in turn, each given the base layer's context (its attention
     * mask, if any) after the hidden state.
     */
    private NDArray djlForward(ParameterStore ps, NDArray x, NDList context, boolean training) {
        NDArray h = x;
        if (hidden != baseHidden) {
            h = Tensors.linear(h, w(ps, "embed_proj.weight", x.getDevice(), training), null);
        }
        for (TransformerEncoderBlock block : djlLayers) {
            NDList in = new NDList(h);
            in.addAll(context);
            h = block.forward(ps, in, training, null).head();
        }
        if (projection != null) {
            h = Tensors.linear(h, ps.getValue(projection, x.getDevice(), training), null);
        }
        return h;
    }

    private NDArray llamaLayer(
            ParameterStore ps,
            int j,
            NDArray x,
            NDArray bias,
            NDArray cos,
            NDArray sin,
            boolean training) {
        Device d = x.getDevice();
        String p = "layers." + j + ".";
        long batch = x.getShape().get(0);
        long len = x.getShape().get(1);
        NDArray a = rms(x, w(ps, p + "input_layernorm.weight", d, training));
        NDArray q =
                split(
                        Tensors.linear(a, w(ps, p + "self_attn.q_proj.weight", d, training), null),
                        batch,
                        len,
                        heads);
        NDArray k =
                split(
                        Tensors.linear(a, w(ps, p + "self_attn.k_proj.weight", d, training), null),
                        batch,
                        len,
                        kvHeads);
        NDArray v =
                split(
                        Tensors.linear(a, w(ps, p + "self_attn.v_proj.weight", d, training), null),
                        batch,
                        len,
                        kvHeads);
        q = rope(q, cos, sin);
        k = rope(k, cos, sin);
        NDArray ctx = attention(q, k, v, bias).transpose(0, 2, 1, 3).reshape(batch, len, hidden);
        x = x.add(Tensors.linear(ctx, w(ps, p + "self_attn.o_proj.weight", d, training), null));
        NDArray b = rms(x, w(ps, p + "post_attention_layernorm.weight", d, training));
        NDArray gate = Tensors.linear(b, w(ps, p + "mlp.gate_proj.weight", d, training), null);
        NDArray up = Tensors.linear(b, w(ps, p + "mlp.up_proj.weight", d, training), null);
        return x.add(
                Tensors.linear(
                        Tensors.silu(gate).mul(up),
                        w(ps, p + "mlp.down_proj.weight", d, training),
                        null));
    }

    private NDArray bertLayer(ParameterStore ps, int j, NDArray x, NDArray bias, boolean training) {
        Device d = x.getDevice();
        String p = "layer." + j + ".";
        long batch = x.getShape().get(0);
        long len = x.getShape().get(1);
        NDArray q =
                split(
                        Tensors.linear(
                                x,
                                w(ps, p + "attention.self.query.weight", d, training),
                                w(ps, p + "attention.self.query.bias", d, training)),
                        batch,
                        len,
                        heads);
        NDArray k =
                split(
                        Tensors.linear(
                                x,
                                w(ps, p + "attention.self.key.weight", d, training),
                                w(ps, p + "attention.self.key.bias", d, training)),
                        batch,
                        len,
                        heads);
        NDArray v =
                split(
                        Tensors.linear(
                                x,
                                w(ps, p + "attention.self.value.weight", d, training),
                                w(ps, p + "attention.self.value.bias", d, training)),
                        batch,
                        len,
                        heads);
        NDArray ctx = attention(q, k, v, bias).transpose(0, 2, 1, 3).reshape(batch, len, hidden);
        NDArray attended =
                layerNorm(
                        Tensors.linear(
                                        ctx,
                                        w(ps, p + "attention.output.dense.weight", d, training),
                                        w(ps, p + "attention.output.dense.bias", d, training))
                                .add(x),
                        w(ps, p + "attention.output.LayerNorm.weight", d, training),
                        w(ps, p + "attention.output.LayerNorm.bias", d, training));
        NDArray inner =
                gelu(
                        Tensors.linear(
                                attended,
                                w(ps, p + "intermediate.dense.weight", d, training),
                                w(ps, p + "intermediate.dense.bias", d, training)));
        return layerNorm(
                Tensors.linear(
                                inner,
                                w(ps, p + "output.dense.weight", d, training),
                                w(ps, p + "output.dense.bias", d, training))
                        .add(attended),
                w(ps, p + "output.LayerNorm.weight", d, training),
                w(ps, p + "output.LayerNorm.bias", d, training));
    }

    private NDArray rms(NDArray x, NDArray weight) {
        NDArray meanSquare = x.square().mean(new int[] {-1}, true);
        return x.div(Scalars.add(meanSquare, eps).sqrt()).mul(weight);
    }

    private NDArray layerNorm(NDArray x, NDArray weight, NDArray bias) {
        return x.getNDArrayInternal().layerNorm(x, new Shape(hidden), weight, bias, eps).head();
    }

    private static NDArray gelu(NDArray x) {
        return Scalars.mul(x.mul(Scalars.add(Scalars.div(x, Math.sqrt(2.0)).erf(), 1)), 0.5);
    }

    private NDArray split(NDArray x, long batch, long len, int n) {
        return x.reshape(batch, len, n, headDim).transpose(0, 2, 1, 3);
    }

    /** Rotate-half RoPE with the base's tables (B|1, 1, T, d). */
    private static NDArray rope(NDArray x, NDArray cos, NDArray sin) {
        long half = x.getShape().get(x.getShape().dimension() - 1) / 2;
        NDArray first = x.get(new NDIndex("..., :" + half));
        NDArray second = x.get(new NDIndex("..., " + half + ":"));
        return x.mul(cos).add(second.neg().concat(first, -1).mul(sin));
    }

    /** softmax(q k^T / sqrt(d) + bias) v with grouped-query attention (HF repeat_kv order). */
    private NDArray attention(NDArray q, NDArray k, NDArray v, NDArray bias) {
        long batch = q.getShape().get(0);
        long len = q.getShape().get(2);
        long groups = heads / (family == ShadowFamily.LLAMA ? kvHeads : heads);
        long kvn = heads / groups;
        NDArray q5 = q.reshape(batch, kvn, groups, len, headDim);
        NDArray kT = k.expandDims(2).transpose(0, 1, 2, 4, 3);
        NDArray scores =
                Scalars.mul(q5.matMul(kT), 1.0 / Math.sqrt(headDim)).add(bias.expandDims(2));
        return scores.softmax(-1).matMul(v.expandDims(2)).reshape(batch, heads, len, headDim);
    }
}
