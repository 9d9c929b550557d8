package io.peft4j.lift;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
import io.peft4j.core.spi.AdapterParameters;
import io.peft4j.core.spi.LayeredAdapter;
import io.peft4j.core.tree.ModuleNode;
import java.util.List;

/**
 * Puts a LIFT adapter on every target {@link Linear}: wraps it in a {@link LiftLayer} (or adds to
 * the one already there), selects its mask from the rank-R approximation of the weight and starts
 * the trainable values at the selected base values (so the model starts as the base model). All
 * targets are checked before anything changes; a failure midway is rolled back.
 */
final class LiftInjector {

    private LiftInjector() {}

    static LiftAdapter inject(AdapterContext ctx, LiftConfig config, String name) {
        List<ModuleNode> targets = config.targets().select(ctx.tree());
        for (ModuleNode node : targets) {
            checkSupported(node);
        }
        return LayeredAdapter.rollBackOnFailure(
                new LiftAdapter(ctx, config, name),
                adapter -> {
                    for (ModuleNode node : targets) {
                        adapter.layers()
                                .attach(
                                        node,
                                        LiftLayer.class,
                                        base -> new LiftLayer((Linear) base, ctx.runtime()),
                                        layer ->
                                                createSparse(
                                                        ctx,
                                                        layer,
                                                        config,
                                                        name,
                                                        adapter.seedFor(node.path())));
                    }
                });
    }

    private static void checkSupported(ModuleNode node) {
        if (AdapterLayers.wrapperAt(node, LiftLayer.class) == null) {
            AdapterLayers.requireLinear(node, "LIFT");
        }
    }

    private static LiftLayer.Sparse createSparse(
            AdapterContext ctx, LiftLayer layer, LiftConfig config, String name, long seed) {
        NDArray w0 = layer.baseWeight().getArray();
        Shape shape = w0.getShape();
        long k = config.budget(shape.get(0), shape.get(1));
        long[] selected = LiftMasks.select(w0, k, config, seed);
        NDArray indices = ctx.manager().create(selected).toDevice(w0.getDevice(), false);
        indices.attach(ctx.manager());
        NDArray values;
        try (NoGrad off = NoGrad.of(w0)) {
            values = w0.take(indices);
        }
        return new LiftLayer.Sparse(
                indices, AdapterParameters.trainable(ctx.manager(), "lift_values." + name, values));
    }
}
