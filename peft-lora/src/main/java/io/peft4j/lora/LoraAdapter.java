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
    private static final String MAGNITUDE = ".lora_magnitude_vector";

    private final AdapterContext ctx;
    private final LoraConfig config;
    private final String name;
    private final AdapterLayers<LoraLayer, LoraLayer.Weights> layers;

    LoraAdapter(AdapterContext ctx, LoraConfig config, String name) {
        this.ctx = ctx;
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
                    if (layer instanceof LoraEmbedding) {
                        result.put(PREFIX + path + ".lora_embedding_A", w.a);
                        result.put(PREFIX + path + ".lora_embedding_B", w.b);
                    } else {
                        result.put(PREFIX + path + ".lora_A.weight", w.a);
                        result.put(PREFIX + path + ".lora_B.weight", w.b);
                        if (w.magnitude != null) {
                            result.put(PREFIX + path + MAGNITUDE, w.magnitude);
                        }
                    }
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
        // peft before 0.12 and some exporters keep DoRA's magnitude as ".weight"
        return fileKey.endsWith(MAGNITUDE + ".weight")
                ? fileKey.substring(0, fileKey.length() - ".weight".length())
                : fileKey;
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
                (path, layer, w) -> {
                    NDArray w0 = layer.baseWeight().getArray();
                    NDArray delta = layer.weightDelta(w);
                    if (w.magnitude == null) {
                        return w0.add(delta);
                    }
                    NDArray norm = ((LoraLinear) layer).doraNorm(w0, w);
                    NDArray factor = w.magnitude.getArray().div(norm).reshape(-1, 1);
                    NDArray updated = w0.add(delta).mul(factor);
                    w.doraFactor = factor; // to unmerge exactly
                    factor.attach(ctx.manager());
                    return updated;
                },
                (layer, w, merged) -> {
                    merged.copyTo(layer.baseWeight().getArray());
                    w.setMerged(true);
                });
    }

    @Override
    public void unmerge() {
        layers.forEachMerged(
                (path, layer, w) -> {
                    NDArray weight = layer.baseWeight().getArray();
                    NDArray delta = layer.weightDelta(w);
                    if (w.magnitude != null) {
                        weight.divi(w.doraFactor);
                        w.doraFactor.close();
                        w.doraFactor = null;
                    }
                    weight.subi(delta);
                    delta.close();
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
