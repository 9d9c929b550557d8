package io.peft4j.lora;

import ai.djl.nn.Parameter;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
import io.peft4j.core.spi.AdapterTensors;
import io.peft4j.core.spi.LayeredAdapter;
import java.util.LinkedHashMap;
import java.util.Map;

/** One named LoRA adapter across all its modules. */
final class LoraAdapter extends LayeredAdapter<LoraLayer, LoraLayer.Weights, LoraConfig> {

    private static final String PREFIX = AdapterTensors.PREFIX;

    LoraAdapter(AdapterContext ctx, LoraConfig config, String name) {
        super(ctx, config, name);
    }

    /** The modules this adapter lives in (the injector adds to them). */
    AdapterLayers<LoraLayer, LoraLayer.Weights> layers() {
        return layers;
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

    private static String pathOf(String key) {
        String rest = key.substring(PREFIX.length());
        int cut = rest.indexOf(".lora_");
        return cut < 0 ? rest : rest.substring(0, cut);
    }

    @Override
    public void merge() {
        layers.mergeAllOrNothing("adapter", (path, layer, w) -> w.variant().mergedWeight(layer, w));
    }

    @Override
    public void unmerge() {
        layers.unmergeAll((path, layer, w) -> w.variant().unmerge(layer, w));
    }
}
