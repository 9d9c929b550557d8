package io.peft4j.models;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.peft4j.core.io.AtomicFiles;
import io.peft4j.core.io.SafetensorsWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Loads and saves Hugging Face checkpoint folders: {@code config.json} plus {@code
 * model.safetensors} (or shards listed in {@code model.safetensors.index.json}).
 *
 * <p>Built from {@code config.json}: {@code llama}, {@code mistral}, {@code qwen2} give a {@link
 * LlamaForCausalLM}; {@code bert} gives a {@link BertModel} (with a pooler when the checkpoint has
 * one) or, when the architectures name {@code BertForSequenceClassification}, that model. Loading
 * is strict: missing tensors, unexpected tensors and shape mismatches raise a {@link
 * CheckpointException} listing all of them. Ignored by rule: {@code rotary_emb.inv_freq}, {@code
 * embeddings.position_ids}, {@code num_batches_tracked} buffers; a tied {@code lm_head.weight};
 * heads of another task when loading a base model (e.g. {@code cls.*} for a {@code BertModel}). Old
 * BERT names {@code LayerNorm.gamma/beta} are read as {@code weight/bias}.
 */
public final class HfCheckpoint {

    private static final Pattern BUFFERS =
            Pattern.compile(
                    "(^|.*\\.)(rotary_emb\\.inv_freq|embeddings\\.position_ids|num_batches_tracked)$");
    private static final List<String> BASE_PREFIXES = List.of("model.", "bert.");
    private static final List<String> TASK_HEADS =
            List.of("lm_head.", "cls.", "classifier.", "score.", "qa_outputs.");

    /**
     * Values a config may need beyond twice what the checkpoint holds before it is refused unbuilt.
     */
    static final long MAX_EXTRA_VALUES = 1 << 20;

    private HfCheckpoint() {}

    /**
     * Loads a checkpoint folder in float32.
     *
     * @see #load(Path, Device, DataType)
     * @param dir the checkpoint folder
     * @param device where the weights go
     * @return the model; close it
     */
    public static Model load(Path dir, Device device) {
        return load(dir, device, DataType.FLOAT32);
    }

    /**
     * Builds the model {@code config.json} describes and loads its weights.
     *
     * @param dir the checkpoint folder
     * @param device where the weights go
     * @param dataType FLOAT32, FLOAT16 or FLOAT64 (BF16 weights are widened while reading)
     * @return a DJL model whose block is a {@link LlamaForCausalLM}, {@link BertModel} or {@link
     *     BertForSequenceClassification}; close it
     * @throws CheckpointException if the tensors do not fit the model
     * @throws IllegalArgumentException if config.json, the index or the weights are missing,
     *     malformed or unsupported, or config.json describes a model far larger than the weights
     *     (refused before anything is allocated); the message names the file
     * @throws java.io.UncheckedIOException if a weights file cannot be read or is not valid
     *     safetensors (the cause, a {@link io.peft4j.core.io.SafetensorsFormatException}, names it)
     */
    public static Model load(Path dir, Device device, DataType dataType) {
        checkDataType(dataType);
        JsonObject json = readConfigJson(dir);
        try (SafetensorsCheckpoint source = SafetensorsCheckpoint.open(dir)) {
            Block block = build(json, dir, source);
            return loadInto(block, source, dir, device, dataType, Set.of());
        }
    }

    /**
     * Loads a BERT checkpoint as a {@link BertForSequenceClassification} with {@code numLabels}
     * classes. The encoder comes from the checkpoint; the classifier (and the pooler, when the
     * checkpoint has none) start from a random normal initialisation, as Hugging Face's {@code
     * from_pretrained} does for a new head. If the checkpoint already is a classifier with the same
     * number of labels, its head is loaded.
     *
     * @param dir the checkpoint folder
     * @param numLabels number of classes
     * @param device where the weights go
     * @return the model; {@link Model#getProperty} "newly_initialized" lists the new parameters
     */
    public static Model loadForSequenceClassification(Path dir, int numLabels, Device device) {
        JsonObject json = readConfigJson(dir);
        BertConfig config =
                BertConfig.fromJson(json, dir.resolve("config.json").toString()).toBuilder()
                        .numLabels(numLabels)
                        .build();
        try (SafetensorsCheckpoint source = SafetensorsCheckpoint.open(dir)) {
            checkFits(
                    config.minParameterCount(),
                    source,
                    dir.resolve("config.json").toString(),
                    dir.toString());
            BertForSequenceClassification block = new BertForSequenceClassification(config);
            return loadInto(
                    block,
                    source,
                    dir,
                    device,
                    DataType.FLOAT32,
                    Set.of(
                            "classifier.weight",
                            "classifier.bias",
                            "bert.pooler.dense.weight",
                            "bert.pooler.dense.bias"));
        }
    }

    /**
     * Loads a checkpoint folder's weights into an initialised model, strictly.
     *
     * @param model a {@link LlamaForCausalLM}, {@link LlamaModel}, {@link BertModel}, {@link
     *     BertForSequenceClassification} or any block with Hugging Face parameter names
     * @param dir the checkpoint folder
     * @return what was loaded and ignored
     * @throws CheckpointException if the tensors do not fit the model
     */
    public static LoadReport loadWeights(Block model, Path dir) {
        try (SafetensorsCheckpoint source = SafetensorsCheckpoint.open(dir)) {
            return loadWeights(model, source, dir.toString(), Set.of());
        }
    }

    /**
     * Loads named tensors (Hugging Face names) into an initialised model, strictly, by the same
     * rules as a checkpoint folder. The map's arrays are copied; the caller keeps them.
     *
     * @param model the model
     * @param tensors tensors by name
     * @param sourceName what to call the tensors in error messages
     * @return what was loaded and ignored
     */
    public static LoadReport loadWeights(
            Block model, Map<String, NDArray> tensors, String sourceName) {
        return loadWeights(model, new MapTensorSource(tensors, sourceName), sourceName, Set.of());
    }

    static LoadReport loadWeights(
            Block model, TensorSource source, String sourceName, Set<String> mayBeMissing) {
        Set<String> expected = ModulePaths.namedParameters(model).keySet();
        boolean tied =
                model instanceof LlamaForCausalLM
                        && ((LlamaForCausalLM) model).config().tieWordEmbeddings();
        LoadReport report =
                StateDictLoader.load(
                        model,
                        source,
                        name -> mapName(name, expected, tied),
                        sourceName,
                        mayBeMissing,
                        tied ? Set.of("lm_head.weight") : Set.of());
        if (tied) {
            ((LlamaForCausalLM) model).tieWeights();
        }
        return report;
    }

    /** Checkpoint name -> model name, or "!reason" to ignore it. */
    static String mapName(String name, Set<String> expected, boolean tiedHead) {
        if (BUFFERS.matcher(name).matches()) {
            return "!buffer, recomputed by the model";
        }
        if (tiedHead && name.equals("lm_head.weight")) {
            return "!tied to model.embed_tokens.weight";
        }
        String n =
                name.replaceAll("\\.LayerNorm\\.gamma$", ".LayerNorm.weight")
                        .replaceAll("\\.LayerNorm\\.beta$", ".LayerNorm.bias");
        if (expected.contains(n)) {
            return n;
        }
        for (String prefix : BASE_PREFIXES) {
            if (expected.contains(prefix + n)) {
                return prefix + n;
            }
            if (n.startsWith(prefix) && expected.contains(n.substring(prefix.length()))) {
                return n.substring(prefix.length());
            }
        }
        boolean baseModel =
                expected.stream().noneMatch(e -> TASK_HEADS.stream().anyMatch(e::startsWith));
        if (baseModel && TASK_HEADS.stream().anyMatch(n::startsWith)) {
            return "!head of another task, not part of this model";
        }
        return n;
    }

    /**
     * Writes {@code config.json} and {@code model.safetensors} (atomically) for one of this
     * module's models. A tied {@code lm_head.weight} is not written, as in Hugging Face.
     *
     * @param model a {@link LlamaForCausalLM}, {@link BertModel} or {@link
     *     BertForSequenceClassification}
     * @param dir the folder (created if needed)
     */
    public static void save(Block model, Path dir) {
        JsonObject config;
        if (model instanceof LlamaForCausalLM) {
            config = ((LlamaForCausalLM) model).config().toJson();
        } else if (model instanceof BertModel) {
            config = ((BertModel) model).config().toJson("BertModel");
        } else if (model instanceof BertForSequenceClassification) {
            config =
                    ((BertForSequenceClassification) model)
                            .config()
                            .toJson("BertForSequenceClassification");
        } else {
            throw new IllegalArgumentException(
                    "cannot write a config.json for " + model.getClass().getName());
        }
        boolean tied =
                model instanceof LlamaForCausalLM
                        && ((LlamaForCausalLM) model).config().tieWordEmbeddings();
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : ModulePaths.namedParameters(model).entrySet()) {
            if (!(tied && e.getKey().equals("lm_head.weight"))) {
                tensors.put(e.getKey(), e.getValue().getArray());
            }
        }
        try {
            Files.createDirectories(dir);
            AtomicFiles.writeString(
                    dir.resolve("config.json"),
                    new GsonBuilder().setPrettyPrinting().create().toJson(config) + "\n");
            SafetensorsWriter.write(
                    dir.resolve(SafetensorsCheckpoint.SINGLE), tensors, Map.of("format", "pt"));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write checkpoint to " + dir, e);
        }
    }

    /**
     * Refuses a config whose model needs far more values than the tensors hold (over twice as many,
     * plus 2^20), before the model is built or any memory allocated: the numbers come from a file
     * and may be anything (a hidden_size of 10^9 would otherwise allocate gigabytes before the
     * shape check). A smaller disagreement, such as a few missing tensors, is built and reported
     * tensor by tensor as a {@link CheckpointException}.
     *
     * @param needed a lower bound of the model's parameter count
     * @param source the tensors
     * @param where the config, for the message
     * @param sourceName the tensors' origin, for the message
     */
    static void checkFits(long needed, TensorSource source, String where, String sourceName) {
        long held = 0;
        for (String name : source.names()) {
            held = Sizes.add(held, source.shape(name).size());
        }
        if (needed > Sizes.add(Sizes.mul(2, held), MAX_EXTRA_VALUES)) {
            throw new IllegalArgumentException(
                    where
                            + ": describes a model of at least "
                            + (needed == Long.MAX_VALUE ? "2^63" : Long.toString(needed))
                            + " weights, but "
                            + sourceName
                            + " holds only "
                            + held
                            + " values; the config does not match the checkpoint");
        }
    }

    private static Block build(JsonObject json, Path dir, TensorSource source) {
        List<String> tensorNames = source.names();
        String where = dir.resolve("config.json").toString();
        String type;
        String arch = "";
        try {
            type = Json.stringOr(json, "model_type", "");
            if (Json.has(json, "architectures")) {
                JsonElement archs = json.get("architectures");
                if (!archs.isJsonArray()) {
                    throw new IllegalArgumentException(
                            "\"architectures\" must be a list of class names, found "
                                    + Json.show(archs));
                }
                if (archs.getAsJsonArray().size() > 0) {
                    JsonElement first = archs.getAsJsonArray().get(0);
                    if (!first.isJsonPrimitive() || !first.getAsJsonPrimitive().isString()) {
                        throw new IllegalArgumentException(
                                "\"architectures\" must be a list of class names,"
                                        + " found "
                                        + Json.show(archs));
                    }
                    arch = first.getAsString();
                }
            }
        } catch (IllegalArgumentException e) {
            throw Json.naming(where, e);
        }
        switch (type) {
            case "llama":
            case "mistral":
            case "qwen2":
                if (!arch.isEmpty() && !arch.endsWith("ForCausalLM")) {
                    throw new IllegalArgumentException(
                            where
                                    + ": architecture "
                                    + arch
                                    + " is not supported (supported: *ForCausalLM)");
                }
                LlamaConfig llama = LlamaConfig.fromJson(json, where);
                checkFits(llama.minParameterCount(), source, where, dir.toString());
                return new LlamaForCausalLM(llama);
            case "bert":
                BertConfig config = BertConfig.fromJson(json, where);
                checkFits(config.minParameterCount(), source, where, dir.toString());
                if (arch.equals("BertForSequenceClassification")) {
                    return new BertForSequenceClassification(config);
                }
                boolean pooler =
                        tensorNames.contains("pooler.dense.weight")
                                || tensorNames.contains("bert.pooler.dense.weight");
                return new BertModel(config.toBuilder().addPoolingLayer(pooler).build());
            default:
                throw new IllegalArgumentException(
                        where
                                + ": model_type '"
                                + type
                                + "' is not supported (supported: llama, mistral, qwen2, bert)");
        }
    }

    static Model loadInto(
            Block block,
            TensorSource source,
            Path dir,
            Device device,
            DataType dataType,
            Set<String> mayBeMissing) {
        Model model =
                Model.newInstance(
                        dir.getFileName() == null ? "model" : dir.getFileName().toString(),
                        device,
                        "PyTorch");
        try {
            if (mayBeMissing.isEmpty()) {
                // every value comes from the checkpoint: parameters get only their shapes now, so
                // every check runs before any weight memory is allocated, and each tensor is then
                // allocated once, as it is read
                block.setInitializer(ShapeOnlyInitializer.INSTANCE, p -> true);
            }
            block.initialize(model.getNDManager(), dataType, new Shape(1, 1));
            LoadReport report = loadWeights(block, source, dir.toString(), mayBeMissing);
            model.setBlock(block);
            model.setDataType(dataType);
            model.setProperty("newly_initialized", String.join(",", report.newlyInitialized()));
            return model;
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    static void checkDataType(DataType dataType) {
        if (dataType == DataType.BFLOAT16) {
            throw new IllegalArgumentException(
                    "BFLOAT16 weights are not supported: DJL 0.35's PyTorch "
                            + "engine aborts the JVM on them; use FLOAT32 or FLOAT16");
        }
        if (!dataType.isFloating()) {
            throw new IllegalArgumentException(
                    "weights must be FLOAT32, FLOAT16 or FLOAT64, got " + dataType);
        }
    }

    private static JsonObject readConfigJson(Path dir) {
        Path config = dir.resolve("config.json");
        if (!Files.isRegularFile(config)) {
            throw new IllegalArgumentException(
                    dir + " is not a Hugging Face checkpoint folder: no config.json");
        }
        return Json.readObject(config);
    }
}
