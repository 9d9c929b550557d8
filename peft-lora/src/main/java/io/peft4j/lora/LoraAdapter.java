package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;

import io.peft4j.core.ops.Finite;
import io.peft4j.core.spi.Adapter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.AdapterContext;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/** One named LoRA adapter across all its modules. */
final class LoraAdapter implements Adapter {

    private static final String PREFIX = "base_model.model.";

    private final AdapterContext ctx;
    private final LoraConfig config;
    private final String name;
    private final Map<String, LoraLayer> layers = new LinkedHashMap<>();

    LoraAdapter(AdapterContext ctx, LoraConfig config, String name) {
        this.ctx = ctx;
        this.config = config;
        this.name = name;
    }

    void add(String path, LoraLayer layer) {
        layers.put(path, layer);
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
        return new ArrayList<>(layers.keySet());
    }

    @Override
    public Map<String, Parameter> parameters() {
        Map<String, Parameter> result = new LinkedHashMap<>();
        layers.forEach((path, layer) -> {
            LoraLayer.Weights w = layer.adapters.get(name);
            if (layer instanceof LoraEmbedding) {
                result.put(PREFIX + path + ".lora_embedding_A", w.a);
                result.put(PREFIX + path + ".lora_embedding_B", w.b);
            } else {
                result.put(PREFIX + path + ".lora_A.weight", w.a);
                result.put(PREFIX + path + ".lora_B.weight", w.b);
                if (w.magnitude != null) {
                    result.put(PREFIX + path + ".lora_magnitude_vector", w.magnitude);
                }
            }
        });
        return result;
    }

    @Override
    public void load(Map<String, NDArray> tensors) {
        Map<String, Parameter> expected = parameters();
        Map<String, NDArray> byKey = new LinkedHashMap<>();
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, NDArray> e : tensors.entrySet()) {
            String key = e.getKey();
            // peft before 0.12 and some exporters keep DoRA's magnitude as ".weight"
            if (key.endsWith(".lora_magnitude_vector.weight")) {
                key = key.substring(0, key.length() - ".weight".length());
            }
            byKey.put(key, e.getValue());
        }
        for (Map.Entry<String, Parameter> e : expected.entrySet()) {
            NDArray found = byKey.get(e.getKey());
            Shape want = e.getValue().getArray().getShape();
            if (found == null) {
                problems.add("missing tensor " + e.getKey() + " " + want);
            } else if (!found.getShape().equals(want)) {
                problems.add("tensor " + e.getKey() + " has shape " + found.getShape() + ", expected " + want
                        + " (r=" + config.rankFor(pathOf(e.getKey())) + ")");
            }
        }
        TreeSet<String> unexpected = new TreeSet<>(byKey.keySet());
        unexpected.removeAll(expected.keySet());
        for (String key : unexpected) {
            problems.add("unexpected tensor " + key + " (no such module in this adapter)");
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(
                    "adapter '" + name + "' does not fit the model: "
                            + String.join("; ", problems.subList(0, Math.min(problems.size(), 20)))
                            + (problems.size() > 20 ? "; and " + (problems.size() - 20) + " more" : ""));
        }
        for (Map.Entry<String, Parameter> e : expected.entrySet()) {
            NDArray target = e.getValue().getArray();
            NDArray source = byKey.get(e.getKey());
            NDArray cast = source.toType(target.getDataType(), true);
            cast.copyTo(target);
            if (cast != source) {
                cast.close();
            }
        }
    }

    private static String pathOf(String key) {
        String rest = key.substring(PREFIX.length());
        int cut = rest.indexOf(".lora_");
        return cut < 0 ? rest : rest.substring(0, cut);
    }

    @Override
    public void merge() {
        if (isMerged()) {
            return;
        }
        // Compute every new weight first so a NaN/Inf anywhere leaves all weights untouched.
        Map<LoraLayer, NDArray> merged = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, LoraLayer> e : layers.entrySet()) {
                LoraLayer layer = e.getValue();
                LoraLayer.Weights w = layer.adapters.get(name);
                NDArray w0 = layer.baseWeight().getArray();
                NDArray delta = layer.weightDelta(w);
                NDArray updated;
                if (w.magnitude != null) {
                    NDArray norm = ((LoraLinear) layer).doraNorm(w0, w);
                    NDArray factor = w.magnitude.getArray().div(norm).reshape(-1, 1);
                    updated = w0.add(delta).mul(factor);
                    w.doraFactor = factor;
                    factor.attach(ctx.manager());
                } else {
                    updated = w0.add(delta);
                }
                if (!Finite.all(updated)) {
                    throw new ArithmeticException(
                            "Merging adapter '" + name + "' into '" + e.getKey() + "."
                                    + layer.baseWeight().getName()
                                    + "' would produce NaN or Inf; weights left untouched");
                }
                merged.put(layer, updated);
            }
        } catch (RuntimeException ex) {
            merged.values().forEach(NDArray::close);
            throw ex;
        }
        for (Map.Entry<LoraLayer, NDArray> e : merged.entrySet()) {
            e.getValue().copyTo(e.getKey().baseWeight().getArray());
            e.getValue().close();
            e.getKey().adapters.get(name).merged = true;
        }
    }

    @Override
    public void unmerge() {
        for (LoraLayer layer : layers.values()) {
            LoraLayer.Weights w = layer.adapters.get(name);
            if (!w.merged) {
                continue;
            }
            NDArray weight = layer.baseWeight().getArray();
            NDArray delta = layer.weightDelta(w);
            if (w.magnitude != null) {
                weight.divi(w.doraFactor);
                w.doraFactor.close();
                w.doraFactor = null;
            }
            weight.subi(delta);
            delta.close();
            w.merged = false;
        }
    }

    @Override
    public boolean isMerged() {
        for (LoraLayer layer : layers.values()) {
            LoraLayer.Weights w = layer.adapters.get(name);
            if (w != null && w.merged) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void detach() {
        for (LoraLayer layer : layers.values()) {
            LoraLayer.Weights w = layer.adapters.get(name);
            if (w != null && w.pissaDelta0 != null && !w.merged) {
                layer.baseWeight().getArray().addi(w.pissaDelta0); // PiSSA: give W its top part back
            }
            layer.removeAdapter(name);
            if (layer.adapters.isEmpty()) {
                ctx.restore(layer);
            }
        }
        layers.clear();
    }
}
