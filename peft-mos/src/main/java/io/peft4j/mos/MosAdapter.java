package io.peft4j.mos;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import io.peft4j.core.io.AtomicFiles;
import io.peft4j.core.io.FolderSwap;
import io.peft4j.core.io.SafetensorsWriter;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
import io.peft4j.core.spi.AdapterTensors;
import io.peft4j.core.spi.LayeredAdapter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One named MoS adapter: its pools (trainable, one pair per projection type) and, per module, the
 * frozen index tables that say which pool rows make up that module's {@code A_i} and {@code B_i}.
 *
 * <p>File keys (in {@code adapter_model.safetensors}, next to {@code adapter_config.json} with
 * {@code peft_type} {@code MOS}): {@code base_model.model.<type>.mos_A_pool} (N, in/l) and {@code
 * .mos_B_pool} (N, out/l), where {@code <type>} is the module path with layer indices as {@code *};
 * {@code base_model.model.<path>.mos_A_index} and {@code .mos_B_index} (r l, INT64).
 *
 * <p>{@link #exportAsLora(Path)} writes the dense per-layer factors as a plain Hugging Face LoRA
 * adapter folder that any LoRA implementation loads.
 */
public final class MosAdapter extends LayeredAdapter<MosLayer, MosLayer.Slot, MosConfig> {

    static final String PREFIX = AdapterTensors.PREFIX;

    private final Map<String, MosPool> pools = new LinkedHashMap<>();

    MosAdapter(AdapterContext ctx, MosConfig config, String name) {
        super(ctx, config, name);
    }

    void addPool(MosPool pool) {
        pools.put(pool.group, pool);
    }

    /** The modules this adapter lives in (the injector adds to them). */
    AdapterLayers<MosLayer, MosLayer.Slot> layers() {
        return layers;
    }

    MosLayer layer(String path) {
        return layers.layer(path);
    }

    /** This adapter's slot in the module at {@code path}. */
    MosLayer.Slot slot(String path) {
        return layers.entry(path);
    }

    Map<String, MosPool> pools() {
        return pools;
    }

    /**
     * {@return the projection types (module paths with layer indices as {@code *}), one pool pair
     * each}
     */
    public List<String> projectionTypes() {
        return new ArrayList<>(pools.keySet());
    }

    @Override
    public Map<String, Parameter> parameters() {
        Map<String, Parameter> result = new LinkedHashMap<>();
        pools.forEach(
                (group, pool) -> {
                    result.put(PREFIX + group + ".mos_A_pool", pool.a);
                    result.put(PREFIX + group + ".mos_B_pool", pool.b);
                });
        return result;
    }

    @Override
    public Map<String, NDArray> frozenState() {
        Map<String, NDArray> result = new LinkedHashMap<>();
        layers.forEach(
                (path, layer, s) -> {
                    result.put(PREFIX + path + ".mos_A_index", s.indexA);
                    result.put(PREFIX + path + ".mos_B_index", s.indexB);
                });
        return result;
    }

    @Override
    public Map<String, AdapterTensors.Spec> tensorSpecs() {
        return AdapterTensors.specsOf(
                parameters(),
                frozenState(),
                "N = v L l = "
                        + config.equivalentRank()
                        + " * L * "
                        + config.shardsPerVector()
                        + ", r l = "
                        + config.rank()
                        + " * "
                        + config.shardsPerVector());
    }

    @Override
    protected String describe() {
        return "MoS adapter '" + name() + "'";
    }

    /** Every index table picks distinct public rows, then this layer's own private rows. */
    @Override
    protected void checkValues(Map<String, NDArray> tensors, List<String> problems) {
        for (String key : frozenState().keySet()) {
            String bad =
                    checkTable(key, tensors.get(key).toType(DataType.INT64, true).toLongArray());
            if (bad != null) {
                problems.add(bad);
            }
        }
    }

    /** The pools and the index tables. */
    @Override
    protected void copyIn(Map<String, NDArray> tensors) {
        super.copyIn(tensors);
        frozenState().forEach((k, table) -> AdapterTensors.copy(tensors.get(k), table));
    }

    /** Why a loaded index table cannot be this module's, or null when it can. */
    private String checkTable(String key, long[] table) {
        boolean isA = key.endsWith(".mos_A_index");
        String path = key.substring(PREFIX.length(), key.length() - ".mos_A_index".length());
        MosLayer.Slot s = slot(path);
        MosPool pool = s.pool;
        int publicPicks = (config.rank() - config.privateRank()) * config.shardsPerVector();
        Set<Long> seen = new HashSet<>();
        for (int j = 0; j < publicPicks; j++) {
            if (table[j] < 0 || table[j] >= pool.publicRows) {
                return "index table "
                        + key
                        + " entry "
                        + j
                        + " = "
                        + table[j]
                        + " is not a public row of the "
                        + (isA ? "A" : "B")
                        + " pool [0, "
                        + pool.publicRows
                        + ")";
            }
            if (!seen.add(table[j])) {
                return "index table "
                        + key
                        + " repeats public row "
                        + table[j]
                        + " (subset selection draws without repeats)";
            }
        }
        long start = pool.privateStart(s.layerIndex);
        for (int j = publicPicks; j < table.length; j++) {
            if (table[j] != start + (j - publicPicks)) {
                return "index table "
                        + key
                        + " entry "
                        + j
                        + " = "
                        + table[j]
                        + ", expected private row "
                        + (start + j - publicPicks)
                        + " of layer "
                        + s.layerIndex
                        + " of '"
                        + pool.group
                        + "'";
            }
        }
        return null;
    }

    @Override
    public void merge() {
        try (NDManager scratch = ctx.manager().newSubManager()) {
            layers.mergeAllOrNothing(
                    "MoS adapter",
                    (path, layer, s) -> {
                        NDArray updated =
                                layer.baseWeight().getArray().add(layer.weightDelta(s, scratch));
                        updated.attach(scratch);
                        return updated;
                    });
        }
    }

    @Override
    public void unmerge() {
        try (NDManager scratch = ctx.manager().newSubManager()) {
            layers.unmergeAll(
                    (path, layer, s) ->
                            layer.baseWeight().getArray().subi(layer.weightDelta(s, scratch)));
        }
    }

    /** The pools (each layer closed its own index tables). */
    @Override
    protected void closeShared() {
        for (MosPool pool : pools.values()) {
            pool.a.close();
            pool.b.close();
        }
        pools.clear();
    }

    /**
     * The dense per-layer factors {@code A_i} (r, in) and {@code B_i} (out, r) by Hugging Face LoRA
     * key ({@code base_model.model.<path>.lora_A.weight} / {@code .lora_B.weight}), as arrays owned
     * by {@code owner}. With {@code lora_alpha = alpha} and rank {@code r} they give a LoRA with
     * exactly this adapter's scale {@code alpha / r}.
     *
     * @param owner the manager that owns the returned arrays
     * @return the factors by Hugging Face LoRA key
     */
    public Map<String, NDArray> denseLoraFactors(NDManager owner) {
        Map<String, NDArray> result = new LinkedHashMap<>();
        layers.forEach(
                (path, layer, s) -> {
                    NDArray a = layer.denseA(s, owner).duplicate();
                    NDArray b = layer.denseB(s, owner).duplicate(); // contiguous (out, r)
                    a.attach(owner);
                    b.attach(owner);
                    result.put(PREFIX + path + ".lora_A.weight", a);
                    result.put(PREFIX + path + ".lora_B.weight", b);
                });
        return result;
    }

    /**
     * Writes this adapter as a plain Hugging Face LoRA adapter folder: {@code adapter_config.json}
     * ({@code peft_type} LORA, {@code r} = MoS r, {@code lora_alpha} = MoS alpha, so the scale
     * matches; {@code target_modules} = the exact module paths) and {@code
     * adapter_model.safetensors} with the dense per-layer {@code A_i}, {@code B_i}. The folder is
     * replaced as a whole ({@link FolderSwap}).
     *
     * @param dir the folder to write (created if absent)
     * @throws IOException when a file cannot be written
     */
    public void exportAsLora(Path dir) throws IOException {
        FolderSwap.replace(dir, this::writeLora);
    }

    private void writeLora(Path dir) throws IOException {
        try (NDManager scratch = ctx.manager().newSubManager()) {
            SafetensorsWriter.write(
                    dir.resolve("adapter_model.safetensors"),
                    denseLoraFactors(scratch),
                    Map.of("format", "pt"));
        }
        JsonObject j = new JsonObject();
        j.add("alpha_pattern", new JsonObject());
        j.add(
                "base_model_name_or_path",
                config.baseModelNameOrPath() == null
                        ? JsonNull.INSTANCE
                        : new com.google.gson.JsonPrimitive(config.baseModelNameOrPath()));
        j.addProperty("bias", "none");
        j.addProperty("fan_in_fan_out", false);
        j.addProperty("inference_mode", true);
        j.addProperty("init_lora_weights", true);
        j.add("layers_pattern", JsonNull.INSTANCE);
        j.add("layers_to_transform", JsonNull.INSTANCE);
        float alpha = config.alpha();
        j.addProperty("lora_alpha", alpha == Math.rint(alpha) ? (Number) (int) alpha : alpha);
        j.addProperty("lora_dropout", config.dropout());
        j.add("modules_to_save", JsonNull.INSTANCE);
        j.addProperty("peft_type", "LORA");
        j.addProperty("r", config.rank());
        j.add("rank_pattern", new JsonObject());
        JsonArray targets = new JsonArray();
        layers.paths().forEach(targets::add);
        j.add("target_modules", targets);
        j.add(
                "task_type",
                config.taskType() == null
                        ? JsonNull.INSTANCE
                        : new com.google.gson.JsonPrimitive(config.taskType()));
        j.addProperty("use_dora", false);
        j.addProperty("use_rslora", false);
        String text =
                new GsonBuilder().setPrettyPrinting().serializeNulls().create().toJson(j) + "\n";
        AtomicFiles.writeString(dir.resolve("adapter_config.json"), text);
    }
}
