package io.peft4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.spi.Adapter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
import io.peft4j.core.spi.AdapterTensors;
import io.peft4j.core.tree.AdapterWrapper;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import io.peft4j.core.tree.Modules;
import io.peft4j.core.tree.PathSuggestions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A method's adapter plus its {@code modules_to_save}: trained copies of whole modules, saved under
 * the keys peft uses ({@code base_model.model.<path>.weight}, {@code .bias}). It is how PeftModel
 * gives every method the same modules_to_save behaviour.
 */
final class WithModulesToSave implements Adapter {

    private static final String PREFIX = AdapterTensors.PREFIX;

    private final Adapter inner;
    private final AdapterLayers<ModulesToSaveLayer, ModulesToSaveLayer.Copy> layers;

    private WithModulesToSave(Adapter inner, AdapterContext ctx) {
        this.inner = inner;
        this.layers = new AdapterLayers<>(ctx, inner.name());
    }

    /**
     * Adds trained copies of the modules named in {@code inner}'s config, or returns {@code inner}
     * when it names none. On failure the copies made so far are removed and {@code inner} is left
     * for the caller to detach.
     */
    static Adapter attach(Adapter inner, AdapterContext ctx) {
        List<String> names = inner.config().modulesToSave();
        if (names.isEmpty()) {
            return inner;
        }
        ModuleTree tree = ctx.tree();
        List<ModuleNode> nodes = new ArrayList<>();
        for (String name : names) {
            List<ModuleNode> found = new ArrayList<>();
            for (ModuleNode node : tree.nodes()) {
                if (!node.path().isEmpty()
                        && (node.path().equals(name) || node.path().endsWith("." + name))) {
                    found.add(node);
                }
            }
            if (found.isEmpty()) {
                throw new IllegalArgumentException(
                        "modules_to_save '"
                                + name
                                + "' matches no module. Closest existing paths: "
                                + PathSuggestions.closest(List.of(name), tree.paths(), 8));
            }
            nodes.addAll(found);
        }
        for (ModuleNode node : nodes) {
            Block b = node.block();
            if (b instanceof AdapterWrapper && !(b instanceof ModulesToSaveLayer)) {
                throw new IllegalArgumentException(
                        "modules_to_save '"
                                + node.path()
                                + "' is also an adapter target ("
                                + b.getClass().getSimpleName()
                                + "); a module is either trained in full or adapted, not both");
            }
            Block plain =
                    b instanceof ModulesToSaveLayer ? ((ModulesToSaveLayer) b).baseLayer() : b;
            if (!(plain instanceof Linear) && Modules.embeddingTable(plain) == null) {
                throw new IllegalArgumentException(
                        "modules_to_save '"
                                + node.path()
                                + "' is a "
                                + plain.getClass().getName()
                                + "; only Linear and embedding modules can be saved as trained copies");
            }
        }
        WithModulesToSave result = new WithModulesToSave(inner, ctx);
        try {
            for (ModuleNode node : nodes) {
                result.layers.attach(
                        node,
                        ModulesToSaveLayer.class,
                        plain ->
                                new ModulesToSaveLayer(
                                        plain, Modules.embeddingTable(plain), ctx.runtime()),
                        layer -> layer.newCopy(inner.name(), ctx.manager()));
            }
        } catch (RuntimeException e) {
            result.layers.detach();
            throw e;
        }
        return result;
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public <T extends Adapter> java.util.Optional<T> as(Class<T> type) {
        return type.isInstance(this) ? java.util.Optional.of(type.cast(this)) : inner.as(type);
    }

    @Override
    public AdapterConfig config() {
        return inner.config();
    }

    @Override
    public Map<String, Parameter> parameters() {
        Map<String, Parameter> all = new LinkedHashMap<>(inner.parameters());
        all.putAll(copyParameters());
        return all;
    }

    private Map<String, Parameter> copyParameters() {
        Map<String, Parameter> result = new LinkedHashMap<>();
        layers.forEach(
                (path, layer, c) -> {
                    result.put(PREFIX + path + ".weight", c.weight);
                    if (c.bias != null) {
                        result.put(PREFIX + path + ".bias", c.bias);
                    }
                });
        return result;
    }

    @Override
    public Map<String, NDArray> frozenState() {
        return inner.frozenState();
    }

    @Override
    public Map<String, AdapterTensors.Spec> tensorSpecs() {
        Map<String, AdapterTensors.Spec> specs = new LinkedHashMap<>(inner.tensorSpecs());
        specs.putAll(AdapterTensors.specsOf(copyParameters(), Map.of(), "modules_to_save"));
        return specs;
    }

    @Override
    public String canonicalKey(String fileKey) {
        return inner.canonicalKey(fileKey);
    }

    @Override
    public void load(Map<String, NDArray> tensors) {
        Map<String, Parameter> mine = copyParameters();
        Map<String, NDArray> own = new LinkedHashMap<>();
        Map<String, NDArray> forInner = new LinkedHashMap<>();
        tensors.forEach((k, v) -> (mine.containsKey(k) ? own : forInner).put(k, v));
        AdapterTensors.check(
                "adapter '" + name() + "' modules_to_save",
                AdapterTensors.specsOf(mine, Map.of(), ""),
                own);
        inner.load(forInner); // validates the rest before anything is copied
        mine.forEach((k, p) -> AdapterTensors.copy(own.get(k), p.getArray()));
    }

    @Override
    public String mergeUnsupportedReason() {
        return inner.mergeUnsupportedReason();
    }

    @Override
    public void merge() {
        inner.merge();
        layers.forEach(
                (path, layer, c) -> {
                    if (c.merged()) {
                        return;
                    }
                    c.savedWeight = layer.baseWeight().getArray().duplicate();
                    c.weight.getArray().copyTo(layer.baseWeight().getArray());
                    if (c.bias != null) {
                        c.savedBias = layer.baseBias().getArray().duplicate();
                        c.bias.getArray().copyTo(layer.baseBias().getArray());
                    }
                    c.setMerged(true);
                });
    }

    @Override
    public void unmerge() {
        inner.unmerge();
        layers.unmergeAll(
                (path, layer, c) -> {
                    c.savedWeight.copyTo(layer.baseWeight().getArray());
                    c.savedWeight.close();
                    c.savedWeight = null;
                    if (c.savedBias != null) {
                        c.savedBias.copyTo(layer.baseBias().getArray());
                        c.savedBias.close();
                        c.savedBias = null;
                    }
                });
    }

    @Override
    public boolean isMerged() {
        return inner.isMerged();
    }

    @Override
    public void detach() {
        layers.detach(); // a merged copy stays in the weights (merge_and_unload)
        inner.detach();
    }
}
