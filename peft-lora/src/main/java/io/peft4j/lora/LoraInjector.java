package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.spi.AdapterBudget;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
import io.peft4j.core.spi.AdapterParameters;
import io.peft4j.core.spi.LayeredAdapter;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.Modules;
import java.util.List;
import java.util.Random;

/**
 * Puts a LoRA adapter into every target module: wraps a plain {@link Linear} or embedding in a
 * {@link LoraLayer} (or adds to the one already there), creates A and B with the config's init,
 * sets up its variant (DoRA's magnitude), then lets the init rework them (PiSSA). All targets are
 * checked before anything changes; a failure midway is rolled back.
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
        return LayeredAdapter.rollBackOnFailure(
                new LoraAdapter(ctx, config, name),
                adapter -> {
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
                        config.initializer()
                                .afterAttach(
                                        node.path(), layer, adapter.layers().entry(node.path()));
                    }
                });
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
        Parameter w = Modules.parameter(b, "weight");
        return w != null && w.isInitialized() ? w.getArray().getShape() : null;
    }

    private static void checkSupported(ModuleNode node, LoraConfig config) {
        Block b = node.block();
        LoraLayer existing = AdapterLayers.wrapperAt(node, LoraLayer.class);
        boolean embedding;
        if (existing != null) {
            embedding = existing instanceof LoraEmbedding;
        } else if (b instanceof Linear) {
            embedding = false;
        } else if (Modules.embeddingTable(b) != null) {
            embedding = true;
        } else {
            throw AdapterLayers.unsupportedTarget(
                    node, "LoRA supports ai.djl.nn.core.Linear and embeddings");
        }
        if (embedding) {
            requireEmbeddings(config.variant(), node);
            requireEmbeddings(config.initializer(), node);
        }
    }

    private static void requireEmbeddings(LoraStrategy what, ModuleNode node) {
        if (!what.supportsEmbeddings()) {
            throw new IllegalArgumentException(
                    what.name()
                            + " is only supported on Linear; '"
                            + node.path()
                            + "' is an embedding");
        }
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
        NDArray w0 = layer.baseWeight().getArray();
        Random random =
                new Random(config.seed() * 1_000_003L + path.hashCode() * 31L + name.hashCode());
        float[][] values = layer.initialValues(config.initializer(), random, r);
        Parameter a =
                AdapterParameters.trainable(
                        manager, layer.aName() + "." + name, values[0], layer.aShape(r), w0);
        Parameter b =
                AdapterParameters.trainable(
                        manager, layer.bName() + "." + name, values[1], layer.bShape(r), w0);
        LoraLayer.Weights w =
                new LoraLayer.Weights(a, b, config.scalingFor(path), config.dropout());
        // the variant sets up from the initial A and B, before an init that reworks W (PiSSA)
        // runs: W + s B A is the same either way
        w.setVariant(config.variant().create(layer, w, name));
        return w;
    }
}
