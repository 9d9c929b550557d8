package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import io.peft4j.core.spi.Adapter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
import io.peft4j.core.spi.AdapterTensors;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One named LoRA adapter across all its modules. */
final class LoraAdapter implements Adapter {

    private static final String PREFIX = AdapterTensors.PREFIX;

    private final LoraConfig config;
    private final String name;
    private final AdapterLayers<LoraLayer, LoraLayer.Weights> layers;

    LoraAdapter(AdapterContext ctx, LoraConfig config, String name) {
        this.config = config;
        this.name = name;
        this.layers = new AdapterLayers<>(ctx, name);
    }

    /** The modules this adapter lives in (the injector adds to them). */
    AdapterLayers<LoraLayer, LoraLayer.Weights> layers() {
        return layers;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public AdapterConfig config() {
        return config;
    }

    /** The module paths this adapter lives in. */
    List<String> paths() {
        return layers.paths();
    }

    @Override
    public Map<String, Parameter> parameters() {
        Map<String, Parameter> result = new LinkedHashMap<>();
        layers.forEach(
                (path, layer, w) -> {
                    String module = PREFIX + path + ".";
                    result.put(module + layer.fileKey(layer.aName()), w.a);
                    result.put(module + layer.fileKey(layer.bName()), w.b);
                    w.variant().parameters().forEach((key, p) -> result.put(module + key, p));
                });
        return result;
    }

    @Override
    public Map<String, AdapterTensors.Spec> tensorSpecs() {
        Map<String, AdapterTensors.Spec> specs = new LinkedHashMap<>();
        parameters()
                .forEach(
                        (k, p) ->
                                specs.put(
                                        k,
                                        AdapterTensors.Spec.weight(
                                                k,
                                                p.getArray().getShape(),
                                                "r=" + config.rankFor(pathOf(k)))));
        return specs;
    }

    @Override
    public String canonicalKey(String fileKey) {
        return config.variant().canonicalKey(fileKey);
    }

    @Override
    public void load(Map<String, NDArray> tensors) {
        Map<String, NDArray> byKey = new LinkedHashMap<>();
        tensors.forEach((k, v) -> byKey.put(canonicalKey(k), v));
        AdapterTensors.check("adapter '" + name + "'", tensorSpecs(), byKey);
        parameters().forEach((k, p) -> AdapterTensors.copy(byKey.get(k), p.getArray()));
    }

    private static String pathOf(String key) {
        String rest = key.substring(PREFIX.length());
        int cut = rest.indexOf(".lora_");
        return cut < 0 ? rest : rest.substring(0, cut);
    }

    @Override
    public void merge() {
        layers.mergeAllOrNothing(
                "adapter",
                (path, layer, w) -> w.variant().mergedWeight(layer, w),
                (layer, w, merged) -> {
                    merged.copyTo(layer.baseWeight().getArray());
                    w.setMerged(true);
                });
    }

    @Override
    public void unmerge() {
        layers.forEachMerged(
                (path, layer, w) -> {
                    w.variant().unmerge(layer, w);
                    w.setMerged(false);
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
