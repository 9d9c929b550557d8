package io.peft4j.testing.toy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.spi.Adapter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
import io.peft4j.core.spi.AdapterTensors;
import io.peft4j.core.tree.ModuleNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One toy adapter: a gain vector per targeted Linear, saved as {@code <path>.toy_gain}. */
final class ToyAdapter implements Adapter {

    private static final String SUFFIX = ".toy_gain";

    private final ToyConfig config;
    private final String name;
    private final AdapterLayers<ToyLayer, ToyLayer.Gain> layers;

    private ToyAdapter(AdapterContext ctx, ToyConfig config, String name) {
        this.config = config;
        this.name = name;
        this.layers = new AdapterLayers<>(ctx, name);
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
        ToyAdapter adapter = new ToyAdapter(ctx, config, name);
        try {
            for (ModuleNode node : targets) {
                adapter.layers.attach(
                        node,
                        ToyLayer.class,
                        base -> new ToyLayer(base, ctx.runtime()),
                        layer -> new ToyLayer.Gain(gain(ctx, layer, config, name)));
            }
        } catch (RuntimeException e) {
            adapter.detach();
            throw e;
        }
        return adapter;
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
        Parameter p =
                Parameter.builder()
                        .setName("toy_gain." + name)
                        .setType(Parameter.Type.WEIGHT)
                        .optArray(g)
                        .build();
        g.setRequiresGradient(true);
        return p;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public AdapterConfig config() {
        return config;
    }

    @Override
    public Map<String, Parameter> parameters() {
        Map<String, Parameter> result = new LinkedHashMap<>();
        layers.forEach((path, layer, e) -> result.put(AdapterTensors.key(path, SUFFIX), e.g));
        return result;
    }

    @Override
    public void load(Map<String, NDArray> tensors) {
        AdapterTensors.check("adapter '" + name + "'", tensorSpecs(), tensors);
        parameters().forEach((k, p) -> AdapterTensors.copy(tensors.get(k), p.getArray()));
    }

    @Override
    public void merge() {
        layers.mergeAllOrNothing(
                "toy adapter",
                (path, layer, e) -> layer.mergedWeight(e),
                (layer, e, merged) -> {
                    merged.copyTo(layer.baseWeight().getArray());
                    e.setMerged(true);
                });
    }

    @Override
    public void unmerge() {
        layers.forEachMerged(
                (path, layer, e) -> {
                    layer.unmergeWeight(e);
                    e.setMerged(false);
                });
    }

    @Override
    public boolean isMerged() {
        return layers.anyMerged();
    }

    @Override
    public void detach() {
        layers.detach();
    }
}
