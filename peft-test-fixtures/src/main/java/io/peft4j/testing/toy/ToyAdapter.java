package io.peft4j.testing.toy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
import io.peft4j.core.spi.AdapterParameters;
import io.peft4j.core.spi.AdapterTensors;
import io.peft4j.core.spi.LayeredAdapter;
import io.peft4j.core.tree.ModuleNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One toy adapter: a gain vector per targeted Linear, saved as {@code <path>.toy_gain}. */
final class ToyAdapter extends LayeredAdapter<ToyLayer, ToyLayer.Gain, ToyConfig> {

    private static final String SUFFIX = ".toy_gain";

    private ToyAdapter(AdapterContext ctx, ToyConfig config, String name) {
        super(ctx, config, name);
    }

    /** Attaches adapter {@code name} to every target; on failure the model is left as found. */
    static ToyAdapter inject(AdapterContext ctx, ToyConfig config, String name) {
        List<ModuleNode> targets = config.targets().select(ctx.tree());
        for (ModuleNode node : targets) {
            if (AdapterLayers.wrapperAt(node, ToyLayer.class) == null
                    && !(node.block() instanceof Linear)) {
                throw new IllegalArgumentException(
                        "Target module '"
                                + node.path()
                                + "' is a "
                                + node.block().getClass().getName()
                                + "; the toy method adapts ai.djl.nn.core.Linear only");
            }
        }
        return LayeredAdapter.rollBackOnFailure(
                new ToyAdapter(ctx, config, name),
                adapter -> {
                    for (ModuleNode node : targets) {
                        adapter.layers.attach(
                                node,
                                ToyLayer.class,
                                base -> new ToyLayer(base, ctx.runtime()),
                                layer -> new ToyLayer.Gain(gain(ctx, layer, config, name)));
                    }
                });
    }

    private static Parameter gain(AdapterContext ctx, ToyLayer layer, ToyConfig c, String name) {
        NDArray like = layer.baseWeight().getArray();
        NDArray g =
                ctx.manager()
                        .full(
                                new Shape(layer.inFeatures()),
                                c.initGain,
                                like.getDataType(),
                                like.getDevice());
        return AdapterParameters.trainable(ctx.manager(), "toy_gain." + name, g);
    }

    @Override
    public Map<String, Parameter> parameters() {
        Map<String, Parameter> result = new LinkedHashMap<>();
        layers.forEach((path, layer, e) -> result.put(AdapterTensors.key(path, SUFFIX), e.g));
        return result;
    }

    @Override
    public void merge() {
        layers.mergeAllOrNothing("toy adapter", (path, layer, e) -> layer.mergedWeight(e));
    }

    @Override
    public void unmerge() {
        layers.unmergeAll((path, layer, e) -> layer.unmergeWeight(e));
    }
}
