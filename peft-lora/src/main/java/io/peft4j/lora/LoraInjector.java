package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.linalg.RandomizedSvd;
import io.peft4j.core.spi.AdapterBudget;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.Modules;
import java.util.List;
import java.util.Random;

/**
 * Puts a LoRA adapter into every target module: wraps a plain {@link Linear} or embedding in a
 * {@link LoraLayer} (or adds to the one already there), creates and initializes A, B (and DoRA's
 * magnitude). All targets are checked before anything changes; a failure midway is rolled back.
 */
final class LoraInjector {

    private LoraInjector() {}

    static LoraAdapter inject(AdapterContext ctx, LoraConfig config, String name) {
        List<ModuleNode> targets = config.targets().select(ctx.tree());
        long elements = 0;
        for (ModuleNode node : targets) {
            checkSupported(node, config);
            Shape w = weightShape(node.block());
            if (w != null && w.dimension() == 2) {
                String what =
                        "LoRA r=" + config.rankFor(node.path()) + " on '" + node.path() + "' " + w;
                elements =
                        AdapterBudget.sum(
                                "LoRA adapter",
                                elements,
                                AdapterBudget.product(
                                        what, config.rankFor(node.path()), w.get(0) + w.get(1)));
            }
        }
        // checked before anything is allocated: ranks from a file must not exhaust memory
        AdapterBudget.check(
                "LoRA adapter '"
                        + name
                        + "' (r="
                        + config.rank()
                        + " on "
                        + targets.size()
                        + " modules)",
                elements,
                ctx.root());
        LoraAdapter adapter = new LoraAdapter(ctx, config, name);
        try {
            for (ModuleNode node : targets) {
                LoraLayer layer =
                        adapter.layers()
                                .attach(
                                        node,
                                        LoraLayer.class,
                                        base -> wrap(base, ctx),
                                        l ->
                                                createWeights(
                                                        ctx.manager(),
                                                        l,
                                                        node.path(),
                                                        config,
                                                        name));
                if (config.init() == LoraInit.PISSA) {
                    applyPissa(layer, adapter.layers().entry(node.path()), config);
                }
            }
        } catch (RuntimeException e) {
            adapter.detach();
            throw e;
        }
        return adapter;
    }

    /** The (out, in) or (vocab, dim) shape of a target's base weight, looking through a wrapper. */
    private static Shape weightShape(Block b) {
        if (b instanceof LoraLayer) {
            return ((LoraLayer) b).baseWeight().getArray().getShape();
        }
        Parameter table = Modules.embeddingTable(b);
        if (table != null) {
            return table.getArray().getShape();
        }
        Parameter w =
                b.getDirectParameters().contains("weight")
                        ? b.getDirectParameters().get("weight")
                        : null;
        return w != null && w.isInitialized() ? w.getArray().getShape() : null;
    }

    private static void checkSupported(ModuleNode node, LoraConfig config) {
        Block b = node.block();
        if (AdapterLayers.wrapperAt(node, LoraLayer.class) != null) {
            if (config.useDora() && !(b instanceof LoraLinear)) {
                throw new IllegalArgumentException(
                        "DoRA is only supported on Linear; '" + node.path() + "' is an embedding");
            }
            return;
        }
        if (b instanceof Linear) {
            return;
        }
        if (Modules.embeddingTable(b) != null) {
            if (config.useDora()) {
                throw new IllegalArgumentException(
                        "DoRA is only supported on Linear; '" + node.path() + "' is an embedding");
            }
            if (config.init() == LoraInit.PISSA) {
                throw new IllegalArgumentException(
                        "PiSSA init is only supported on Linear; '"
                                + node.path()
                                + "' is an embedding");
            }
            return;
        }
        throw new IllegalArgumentException(
                "Target module '"
                        + node.path()
                        + "' is a "
                        + b.getClass().getName()
                        + "; LoRA supports ai.djl.nn.core.Linear and embeddings. Narrow target_modules.");
    }

    private static LoraLayer wrap(Block base, AdapterContext ctx) {
        if (base instanceof Linear) {
            return new LoraLinear(base, ctx.runtime());
        }
        return new LoraEmbedding(base, Modules.embeddingTable(base), ctx.runtime());
    }

    private static LoraLayer.Weights createWeights(
            NDManager manager, LoraLayer layer, String path, LoraConfig config, String name) {
        int r = config.rankFor(path);
        Shape weightShape = layer.baseWeight().getArray().getShape();
        long largest = Math.max(weightShape.get(0), weightShape.get(1));
        if (r > largest) {
            // checked before allocating: an absurd rank from a file must not exhaust memory
            throw new IllegalArgumentException(
                    "LoRA rank r="
                            + r
                            + " for '"
                            + path
                            + "' exceeds the module's dimensions "
                            + weightShape
                            + "; expected r <= "
                            + largest);
        }
        float scaling = config.scalingFor(path);
        NDArray w0 = layer.baseWeight().getArray();
        DataType dtype = w0.getDataType();
        Random random =
                new Random(config.seed() * 1_000_003L + path.hashCode() * 31L + name.hashCode());
        Parameter a;
        Parameter b;
        Parameter magnitude = null;
        if (layer instanceof LoraLinear) {
            LoraLinear lin = (LoraLinear) layer;
            long in = lin.inFeatures();
            long out = lin.outFeatures();
            float[] aValues;
            float[] bValues;
            switch (config.init()) {
                case GAUSSIAN:
                    aValues = gaussian(random, r * in, 1.0 / r);
                    bValues = new float[(int) (out * r)];
                    break;
                case RANDOM:
                    aValues = uniform(random, r * in, 1.0 / Math.sqrt(in));
                    bValues = uniform(random, out * r, 1.0 / Math.sqrt(r));
                    break;
                default: // DEFAULT; PISSA overwrites both after wrapping
                    aValues = uniform(random, r * in, 1.0 / Math.sqrt(in));
                    bValues = new float[(int) (out * r)];
            }
            a = param(manager, "lora_A." + name, aValues, new Shape(r, in), w0);
            b = param(manager, "lora_B." + name, bValues, new Shape(out, r), w0);
            if (config.useDora()) {
                LoraLayer.Weights tmp = new LoraLayer.Weights(a, b, null, scaling, 0);
                NDArray norm = lin.doraNorm(w0, tmp);
                magnitude =
                        Parameter.builder()
                                .setName("lora_magnitude_vector." + name)
                                .setType(Parameter.Type.WEIGHT)
                                .optArray(norm)
                                .build();
                norm.attach(manager);
                norm.setRequiresGradient(true);
            }
        } else {
            LoraEmbedding emb = (LoraEmbedding) layer;
            long vocab = emb.vocabSize();
            long dim = emb.embeddingDim();
            float[] aValues =
                    config.init() == LoraInit.RANDOM
                            ? gaussian(random, r * vocab, 1.0)
                            : new float[(int) (r * vocab)];
            float[] bValues = gaussian(random, dim * r, 1.0);
            a = param(manager, "lora_embedding_A." + name, aValues, new Shape(r, vocab), w0);
            b = param(manager, "lora_embedding_B." + name, bValues, new Shape(dim, r), w0);
        }
        return new LoraLayer.Weights(a, b, magnitude, scaling, config.dropout());
    }

    private static Parameter param(
            NDManager manager, String name, float[] values, Shape shape, NDArray like) {
        NDArray array = manager.create(values, shape).toDevice(like.getDevice(), false);
        if (array.getDataType() != like.getDataType()) {
            array = array.toType(like.getDataType(), false);
        }
        array.attach(manager);
        Parameter p =
                Parameter.builder()
                        .setName(name)
                        .setType(Parameter.Type.WEIGHT)
                        .optArray(array)
                        .build();
        array.setRequiresGradient(true);
        return p;
    }

    /** PiSSA: A, B from the top-r singular triplets; W keeps the residual {@code W - s B A}. */
    private static void applyPissa(LoraLayer layer, LoraLayer.Weights w, LoraConfig config) {
        NDArray weight = layer.baseWeight().getArray();
        int r = w.rank();
        int iterations = config.pissaIterations() > 0 ? config.pissaIterations() : 4;
        try (NDManager scratch = weight.getManager().newSubManager()) {
            NDArray wf = weight.toType(DataType.FLOAT32, true);
            wf.attach(scratch);
            try (RandomizedSvd.Result svd =
                    RandomizedSvd.compute(wf, r, Math.max(8, r), iterations, config.seed())) {
                NDArray sqrtS = svd.s().div(w.scaling).sqrt(); // (r)
                NDArray b = svd.u().mul(sqrtS.reshape(1, r)); // (out, r)
                NDArray a = svd.vt().mul(sqrtS.reshape(r, 1)); // (r, in)
                b.attach(scratch);
                a.attach(scratch);
                b.toType(weight.getDataType(), false).copyTo(w.b.getArray());
                a.toType(weight.getDataType(), false).copyTo(w.a.getArray());
            }
            NDArray delta = layer.weightDelta(w);
            w.pissaDelta0 = delta.duplicate();
            w.pissaDelta0.attach(w.a.getArray().getManager());
            weight.subi(delta);
        }
    }

    private static float[] uniform(Random random, long n, double bound) {
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
        }
        return v;
    }

    private static float[] gaussian(Random random, long n, double std) {
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (random.nextGaussian() * std);
        }
        return v;
    }
}
