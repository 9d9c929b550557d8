package io.peft4j.shadow;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.nn.Block;
import io.peft4j.core.model.LayerStack;
import io.peft4j.core.spi.AdapterBudget;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.tree.AdapterWrapper;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import io.peft4j.core.tree.Modules;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Attaches a ShadowPEFT adapter: finds the {@link LayerStack} (the root or the shallowest block
 * below it that is one), resolves the config's automatic sizes against it, builds the adapter's
 * tensors, and wraps every base layer in a {@link ShadowLayer} (or adds to the wrappers already
 * there). Everything is checked before the model changes; a failure midway is rolled back.
 */
final class ShadowInjector {

    private ShadowInjector() {}

    /** A layer stack and the module-tree node whose layers it lists. */
    record StackAt(ModuleNode node, LayerStack stack) {}

    static ShadowAdapter inject(AdapterContext ctx, ShadowConfig config, String name) {
        ModuleTree tree = ctx.tree();
        StackAt at = findStack(tree);
        ModuleNode stackNode = at.node();
        LayerStack stack = at.stack();
        int numLayers = stack.numLayers();
        if (numLayers < 2) {
            throw new IllegalArgumentException(
                    "ShadowPEFT needs at least 2 base layers (injection starts at layer 1); '"
                            + stackNode
                            + "' has "
                            + numLayers
                            + (stack instanceof DjlEncoderStack
                                    ? " (a DJL SequentialBlock of TransformerEncoderBlocks, read as a"
                                            + " LayerStack: add more encoder blocks)"
                                    : ""));
        }
        ShadowHub hub = null;
        Block first = stack.layer(0);
        if (first instanceof ShadowLayer) {
            hub = ((ShadowLayer) first).hub();
        } else {
            for (int i = 0; i < numLayers; i++) {
                if (stack.layer(i) instanceof AdapterWrapper) {
                    throw new IllegalArgumentException(
                            "Layer '"
                                    + layerPath(stackNode, stack, i)
                                    + "' already carries an adapter of"
                                    + " another method ("
                                    + stack.layer(i).getClass().getSimpleName()
                                    + "); ShadowPEFT wraps whole layers");
                }
            }
        }
        NDArray like = firstWeight(stack);
        ShadowConfig resolved = resolve(config, stack, tree, stackNode);
        checkBudget(resolved, stack.hiddenSize(), numLayers, ctx.root());
        ShadowNetwork network;
        Path pretrained =
                config.pretrainedShadow() == null ? null : Path.of(config.pretrainedShadow());
        if (pretrained != null) {
            try (DetachedShadow.Files files = DetachedShadow.readFiles(pretrained)) {
                resolved =
                        checkPretrained(
                                resolved,
                                files.config(),
                                config,
                                files.baseHidden(),
                                stack.hiddenSize(),
                                pretrained);
                checkBudget(resolved, stack.hiddenSize(), numLayers, ctx.root());
                network = newNetwork(resolved, stack, ctx, like);
                Tensors.validateAndCopy(
                        "pretrained shadow " + pretrained,
                        network.fileTensors(),
                        files.tensors("pretrained shadow " + pretrained, network.fileTensors()));
            } catch (IOException e) {
                throw new UncheckedIOException(
                        "cannot read the pretrained shadow in "
                                + pretrained
                                + ": "
                                + e.getMessage(),
                        e);
            }
        } else {
            network = newNetwork(resolved, stack, ctx, like);
        }
        ShadowHeadCopy head =
                resolved.shadowHead() == ShadowHead.OWN
                        ? ShadowHeadCopy.find(tree, stackNode, ctx.manager())
                        : null;
        ShadowWeights weights =
                new ShadowWeights(resolved, network, stack, ctx.manager(), like, head);
        boolean freshHub = hub == null;
        if (freshHub) {
            hub = new ShadowHub(stack, stackNode.path(), ctx.runtime(), ctx.manager());
        }
        hub.adapters.put(name, weights);
        ShadowAdapter adapter = new ShadowAdapter(ctx, resolved, name, hub, weights);
        if (freshHub) {
            try {
                for (int i = 0; i < numLayers; i++) {
                    ModuleNode node = ctx.tree().get(layerPath(stackNode, stack, i));
                    ShadowLayer layer = new ShadowLayer(node.block(), i, hub);
                    ctx.replace(node, layer);
                    hub.layers.add(layer);
                }
            } catch (RuntimeException e) {
                adapter.detach();
                throw e;
            }
        }
        return adapter;
    }

    static String layerPath(ModuleNode stackNode, LayerStack stack, int i) {
        return stackNode.path().isEmpty()
                ? stack.layerPath(i)
                : stackNode.path() + "." + stack.layerPath(i);
    }

    /** The DJL family's feed-forward activation: the base's own; null for other stacks. */
    static java.util.function.Function<ai.djl.ndarray.NDList, ai.djl.ndarray.NDList> activationOf(
            LayerStack stack) {
        return stack instanceof DjlEncoderStack d ? d.activation() : null;
    }

    /**
     * The root if it is a LayerStack, else the shallowest LayerStack below it, else a view of the
     * shallowest DJL SequentialBlock of TransformerEncoderBlocks ({@link DjlEncoderStack}).
     */
    static StackAt findStack(ModuleTree tree) {
        ModuleNode best = null;
        for (ModuleNode node : tree.nodes()) {
            if (node.block() instanceof LayerStack) {
                int depth = node.path().isEmpty() ? 0 : node.path().split("\\.").length;
                int bestDepth =
                        best == null
                                ? Integer.MAX_VALUE
                                : best.path().isEmpty() ? 0 : best.path().split("\\.").length;
                if (depth < bestDepth) {
                    best = node;
                }
            }
        }
        if (best != null) {
            return new StackAt(best, (LayerStack) best.block());
        }
        StackAt djl = DjlEncoderStack.find(tree);
        if (djl != null) {
            return djl;
        }
        throw new IllegalArgumentException(
                "ShadowPEFT needs a model that implements io.peft4j.core.model.LayerStack"
                        + " (embeddings, layers, final norm, head), such as peft-models' LlamaForCausalLM or BertModel,"
                        + " or a DJL SequentialBlock holding DJL TransformerEncoderBlocks one after the other;"
                        + " found neither in "
                        + tree.root().getClass().getName());
    }

    /**
     * A fresh shadow network of {@code resolved}, in the type and on the device of {@code like}.
     */
    private static ShadowNetwork newNetwork(
            ShadowConfig resolved, LayerStack stack, AdapterContext ctx, NDArray like) {
        return new ShadowNetwork(
                resolved,
                stack.hiddenSize(),
                ctx.manager(),
                like.getDataType(),
                like.getDevice(),
                resolved.seed(),
                activationOf(stack));
    }

    private static NDArray firstWeight(LayerStack stack) {
        return Modules.firstFloatArray(stack.layer(0))
                .orElseThrow(
                        () ->
                                new IllegalArgumentException(
                                        "base layer 0 has no initialized floating-point weights"));
    }

    /** Fills the config's automatic (0) fields from the base model. */
    /**
     * Checks the resolved sizes before anything is allocated: every array within what one Java
     * array holds, the whole shadow within the adapter budget ({@link AdapterBudget}); the error
     * names the config keys.
     */
    static void checkBudget(ShadowConfig c, int baseHidden, int numLayers, ai.djl.nn.Block root) {
        String what =
                "ShadowPEFT num_shadow_layers="
                        + c.numShadowLayers()
                        + ", shadow_hidden_size="
                        + c.shadowHiddenSize()
                        + ", shadow_intermediate_size="
                        + c.shadowIntermediateSize()
                        + ", injection_hidden_size="
                        + c.injectionSize()
                        + ", gate_hidden_size="
                        + c.gateSize();
        long h = c.shadowHiddenSize();
        long i = c.shadowIntermediateSize();
        long n = Math.max(0, numLayers - 1);
        long[] arrays = {
            AdapterBudget.product(what, h, h),
            AdapterBudget.product(what, i, h),
            AdapterBudget.product(what, h, baseHidden),
            AdapterBudget.product(what, n, baseHidden, c.injectionSize()),
            AdapterBudget.product(what, c.gateSize(), baseHidden)
        };
        for (long a : arrays) {
            if (a > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException(
                        what
                                + ": one weight would hold "
                                + a
                                + " elements, more than an array holds"
                                + " (2^31 - 8)");
            }
        }
        long perLayer =
                AdapterBudget.sum(
                        what,
                        AdapterBudget.product(what, 4, h, h),
                        AdapterBudget.product(what, 3, i, h),
                        AdapterBudget.product(what, 8, h),
                        i);
        long total =
                AdapterBudget.sum(
                        what,
                        AdapterBudget.product(what, c.numShadowLayers(), perLayer),
                        AdapterBudget.product(what, 2, h, baseHidden),
                        AdapterBudget.product(what, 2, arrays[3]),
                        AdapterBudget.product(what, 4, n, arrays[4]));
        AdapterBudget.check(what, total, root);
    }

    static ShadowConfig resolve(
            ShadowConfig c, LayerStack stack, ModuleTree tree, ModuleNode stackNode) {
        ShadowFamily family = c.family();
        if (family == ShadowFamily.AUTO) {
            family = detectFamily(stackNode, stack);
        }
        boolean djlStack = stack instanceof DjlEncoderStack;
        if (djlStack != (family == ShadowFamily.DJL)) {
            throw new IllegalArgumentException(
                    djlStack
                            ? "shadow_family "
                                    + family.name().toLowerCase(java.util.Locale.ROOT)
                                    + " does not fit DJL TransformerEncoderBlock layers: use \"djl\" (or"
                                    + " \"auto\")"
                            : "shadow_family \"djl\" needs DJL TransformerEncoderBlock layers in a"
                                    + " SequentialBlock; this base is a "
                                    + stack.getClass().getSimpleName());
        }
        Object baseConfig = call(stack, "config");
        int baseHidden = stack.hiddenSize();
        int baseHeads =
                djlStack
                        ? ((DjlEncoderStack) stack).numAttentionHeads()
                        : intOf(baseConfig, "numAttentionHeads", 0);
        int baseKv = intOf(baseConfig, "numKeyValueHeads", baseHeads);
        int baseHeadDim = intOf(baseConfig, "headDim", baseHeads > 0 ? baseHidden / baseHeads : 0);
        int baseInter =
                djlStack
                        ? ((DjlEncoderStack) stack).intermediateSize()
                        : intOf(baseConfig, "intermediateSize", 0);
        int hidden = c.shadowHiddenSize() > 0 ? c.shadowHiddenSize() : baseHidden;
        int heads = c.shadowNumAttentionHeads();
        if (heads == 0) {
            if (baseHeadDim > 0 && hidden % baseHeadDim == 0) {
                heads = hidden / baseHeadDim;
            } else if (baseHeads > 0 && hidden % baseHeads == 0) {
                heads = baseHeads;
            } else {
                heads = 1;
            }
        }
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(
                    "shadow hidden size "
                            + hidden
                            + " is not divisible by shadow_num_attention_heads "
                            + heads);
        }
        int kv = c.shadowNumKeyValueHeads();
        if (family == ShadowFamily.BERT || family == ShadowFamily.DJL) {
            if (kv != 0 && kv != heads) {
                throw new IllegalArgumentException(
                        "a "
                                + family
                                + " shadow has no grouped-query attention: shadow_num_key_value_heads "
                                + kv
                                + " must equal shadow_num_attention_heads "
                                + heads
                                + " (or be 0)");
            }
            kv = heads;
        } else if (kv == 0) {
            int groups =
                    baseHeads > 0 && baseKv > 0 && baseHeads % baseKv == 0 ? baseHeads / baseKv : 1;
            kv = heads % groups == 0 ? heads / groups : heads;
        }
        if (heads % kv != 0) {
            throw new IllegalArgumentException(
                    "shadow_num_attention_heads "
                            + heads
                            + " is not a multiple of shadow_num_key_value_heads "
                            + kv);
        }
        int inter =
                c.shadowIntermediateSize() > 0
                        ? c.shadowIntermediateSize()
                        : baseInter > 1 ? baseInter / 2 : 2 * hidden;
        double eps = c.normEps();
        if (eps <= 0 && family == ShadowFamily.DJL) {
            eps = 1e-5; // DJL's BatchNorm default, which the shadow's encoder blocks use
        } else if (eps <= 0) {
            double fromBase =
                    doubleOf(
                            baseConfig,
                            family == ShadowFamily.LLAMA ? "rmsNormEps" : "layerNormEps",
                            0);
            eps = fromBase > 0 ? fromBase : family == ShadowFamily.LLAMA ? 1e-5 : 1e-12;
        }
        return c.toBuilder()
                .family(family)
                .shadowHiddenSize(hidden)
                .shadowNumAttentionHeads(heads)
                .shadowNumKeyValueHeads(kv)
                .shadowIntermediateSize(inter)
                .normEps(eps)
                .build();
    }

    private static ShadowFamily detectFamily(ModuleNode stackNode, LayerStack stack) {
        if (stack instanceof DjlEncoderStack) {
            return ShadowFamily.DJL;
        }
        Block layer = stack.layer(0);
        while (layer instanceof AdapterWrapper) {
            layer = ((AdapterWrapper) layer).baseLayer();
        }
        ModuleTree inside = ModuleTree.of(layer);
        if (inside.find("self_attn").isPresent()) {
            return ShadowFamily.LLAMA;
        }
        if (inside.find("attention").isPresent()) {
            return ShadowFamily.BERT;
        }
        List<String> children = new ArrayList<>();
        for (String p : inside.paths()) {
            if (p.indexOf('.') < 0) {
                children.add(p);
            }
        }
        throw new IllegalArgumentException(
                "cannot tell the family of layer '"
                        + layerPath(stackNode, stack, 0)
                        + "' (children "
                        + children
                        + "); expected 'self_attn' (LLaMA) or 'attention' (BERT): set ShadowConfig.family explicitly");
    }

    private static ShadowConfig checkPretrained(
            ShadowConfig resolved,
            ShadowConfig file,
            ShadowConfig asked,
            int fileBaseHidden,
            int baseHidden,
            Path dir) {
        if (fileBaseHidden != baseHidden) {
            throw new IllegalArgumentException(
                    "the pretrained shadow in "
                            + dir
                            + " was built for base hidden size "
                            + fileBaseHidden
                            + " but this base has "
                            + baseHidden);
        }
        if (file.family() != resolved.family()) {
            throw new IllegalArgumentException(
                    "the pretrained shadow in "
                            + dir
                            + " is a "
                            + file.family()
                            + " network but this base is "
                            + resolved.family());
        }
        checkSame("num_shadow_layers", asked.numShadowLayers(), file.numShadowLayers(), 1, dir);
        checkSame("shadow_hidden_size", asked.shadowHiddenSize(), file.shadowHiddenSize(), 0, dir);
        checkSame(
                "shadow_intermediate_size",
                asked.shadowIntermediateSize(),
                file.shadowIntermediateSize(),
                0,
                dir);
        checkSame(
                "shadow_num_attention_heads",
                asked.shadowNumAttentionHeads(),
                file.shadowNumAttentionHeads(),
                0,
                dir);
        checkSame(
                "shadow_num_key_value_heads",
                asked.shadowNumKeyValueHeads(),
                file.shadowNumKeyValueHeads(),
                0,
                dir);
        return resolved.toBuilder()
                .numShadowLayers(file.numShadowLayers())
                .shadowHiddenSize(file.shadowHiddenSize())
                .shadowIntermediateSize(file.shadowIntermediateSize())
                .shadowNumAttentionHeads(file.shadowNumAttentionHeads())
                .shadowNumKeyValueHeads(file.shadowNumKeyValueHeads())
                .normEps(file.normEps())
                .pretrainedShadow(null)
                .pretrainedSource(dir.toString())
                .build();
    }

    private static void checkSame(String key, int asked, int file, int auto, Path dir) {
        if (asked != auto && asked != file) {
            throw new IllegalArgumentException(
                    key
                            + " is "
                            + asked
                            + " in the config but the pretrained shadow in "
                            + dir
                            + " has "
                            + file
                            + "; leave it at its default to take the file's");
        }
    }

    private static Object call(Object target, String method) {
        try {
            Method m = target.getClass().getMethod(method);
            return m.invoke(target);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    private static int intOf(Object config, String method, int fallback) {
        Object v = config == null ? null : call(config, method);
        return v instanceof Number ? ((Number) v).intValue() : fallback;
    }

    private static double doubleOf(Object config, String method, double fallback) {
        Object v = config == null ? null : call(config, method);
        return v instanceof Number ? ((Number) v).doubleValue() : fallback;
    }

    static Device deviceOf(NDArray a) {
        return a.getDevice();
    }
}
