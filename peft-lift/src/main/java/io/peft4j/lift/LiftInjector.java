package io.peft4j.lift;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
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
        LiftAdapter adapter = new LiftAdapter(ctx, config, name);
        try {
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
                                                node.path(),
                                                config,
                                                name,
                                                adapter.seedFor(node.path())));
            }
        } catch (RuntimeException e) {
            adapter.detach();
            throw e;
        }
        return adapter;
    }

    private static void checkSupported(ModuleNode node) {
        if (AdapterLayers.wrapperAt(node, LiftLayer.class) == null) {
            AdapterLayers.requireLinear(node, "LIFT");
        }
    }

    private static LiftLayer.Sparse createSparse(
            AdapterContext ctx,
            LiftLayer layer,
            String path,
            LiftConfig config,
            String name,
            long seed) {
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
        values.attach(ctx.manager());
        Parameter p =
                Parameter.builder()
                        .setName("lift_values." + name)
                        .setType(Parameter.Type.WEIGHT)
                        .optArray(values)
                        .build();
        values.setRequiresGradient(true);
        return new LiftLayer.Sparse(indices, p);
    }
}
