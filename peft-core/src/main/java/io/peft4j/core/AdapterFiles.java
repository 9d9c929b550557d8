package io.peft4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import io.peft4j.core.io.AtomicFiles;
import io.peft4j.core.io.FolderSwap;
import io.peft4j.core.io.IoConsumer;
import io.peft4j.core.io.SafetensorsFile;
import io.peft4j.core.io.SafetensorsWriter;
import io.peft4j.core.io.TensorInfo;
import io.peft4j.core.spi.Adapter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.AdapterTensors;
import io.peft4j.core.spi.PeftMethod;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hugging Face peft's adapter files: {@code adapter_config.json} and {@code
 * adapter_model.safetensors} in one folder per adapter.
 */
final class AdapterFiles {

    static final String CONFIG_FILE = "adapter_config.json";
    static final String WEIGHTS_FILE = "adapter_model.safetensors";

    private static final Logger LOG = LoggerFactory.getLogger(AdapterFiles.class);
    private static final Gson GSON =
            new GsonBuilder().setPrettyPrinting().serializeNulls().create();

    /** Largest adapter_config.json we read; a config is a few KB, anything huge is not one. */
    private static final long MAX_CONFIG_BYTES = 16L << 20;

    private AdapterFiles() {}

    record Loaded(AdapterConfig config, List<String> warnings) {}

    /**
     * Replaces folder {@code dir} with one adapter's files (see {@link FolderSwap}: a reader or a
     * crash sees the old adapter or the new one, never a mix).
     */
    static void write(Path dir, Adapter adapter, String baseModelName) throws IOException {
        FolderSwap.replace(dir, fresh -> writeFiles(fresh, adapter, baseModelName));
    }

    /**
     * Writes one adapter's two files into {@code dir}, a folder that is not yet visible under its
     * final name (the caller swaps it in).
     */
    static void writeFiles(Path dir, Adapter adapter, String baseModelName) throws IOException {
        Files.createDirectories(dir);
        JsonObject json = adapter.config().toJson();
        if (baseModelName != null) {
            json.addProperty("base_model_name_or_path", baseModelName);
        }
        json.addProperty("inference_mode", true);
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : adapter.parameters().entrySet()) {
            tensors.put(e.getKey(), e.getValue().getArray());
        }
        tensors.putAll(adapter.frozenState());
        SafetensorsWriter.write(dir.resolve(WEIGHTS_FILE), tensors, Map.of("format", "pt"));
        betweenFiles.accept(dir);
        AtomicFiles.writeString(dir.resolve(CONFIG_FILE), GSON.toJson(json) + "\n");
    }

    /** Runs between the two files of a save: a no-op, except where tests inject a failure. */
    static volatile IoConsumer<Path> betweenFiles = d -> {};

    static Loaded readConfig(Path dir) throws IOException {
        dir = FolderSwap.readable(dir);
        Path file = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(file)) {
            throw new IOException(
                    "No " + CONFIG_FILE + " in " + dir + ": not a saved adapter folder");
        }
        if (Files.size(file) > MAX_CONFIG_BYTES) {
            throw new IOException(
                    file + " is " + Files.size(file) + " bytes; an adapter config is a few KB");
        }
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new IOException(file + " is not UTF-8 text: " + e, e);
        }
        JsonObject json;
        try {
            JsonElement parsed = JsonParser.parseString(text);
            if (!parsed.isJsonObject()) {
                throw new IOException(file + " must hold a JSON object, found: " + kind(parsed));
            }
            json = parsed.getAsJsonObject();
        } catch (JsonParseException | StackOverflowError e) {
            throw new IOException(file + " is not valid JSON: " + e.getMessage(), e);
        }
        JsonElement type = json.get("peft_type");
        if (type == null || !type.isJsonPrimitive()) {
            throw new IOException(file + " has no \"peft_type\" string; expected e.g. \"LORA\"");
        }
        PeftMethod method;
        try {
            method = PeftMethods.forType(type.getAsString());
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
        List<String> warnings = new ArrayList<>();
        AdapterConfig config;
        try {
            config = method.parseConfig(json, warnings::add);
        } catch (RuntimeException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
        for (String w : warnings) {
            LOG.warn("{}: {}", file, w);
        }
        return new Loaded(config, warnings);
    }

    /**
     * Loads the tensors of {@code dir}'s weights file into {@code adapter}. Names, types and shapes
     * are checked from the header against {@link Adapter#tensorSpecs()} before any tensor is read,
     * so a file with an unexpected or oversized tensor costs no memory; the loaded values are then
     * checked again (NaN/Inf) by {@link Adapter#load}.
     */
    static void readTensors(Path dir, Adapter adapter, NDManager manager) throws IOException {
        dir = FolderSwap.readable(dir);
        Path file = dir.resolve(WEIGHTS_FILE);
        if (!Files.isRegularFile(file)) {
            throw new IOException("No " + WEIGHTS_FILE + " in " + dir);
        }
        try (NDManager scratch = manager.newSubManager();
                SafetensorsFile st = SafetensorsFile.open(file)) {
            Map<String, TensorInfo> header = new LinkedHashMap<>();
            Map<String, String> fileKeys = new LinkedHashMap<>();
            for (String name : st.names()) {
                String key = adapter.canonicalKey(name);
                header.put(key, st.info(name));
                fileKeys.put(key, name);
            }
            try {
                AdapterTensors.checkHeader(
                        "adapter '" + adapter.name() + "'", adapter.tensorSpecs(), header);
                Map<String, NDArray> tensors = new LinkedHashMap<>();
                for (Map.Entry<String, String> e : fileKeys.entrySet()) {
                    tensors.put(e.getKey(), st.load(e.getValue(), scratch));
                }
                adapter.load(tensors);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
            }
        }
    }

    /** Which files (inodes where the platform has them) the folder's two adapter files are now. */
    static List<Object> identity(Path dir) {
        List<Object> ids = new ArrayList<>();
        for (String f : List.of(CONFIG_FILE, WEIGHTS_FILE)) {
            try {
                java.nio.file.attribute.BasicFileAttributes a =
                        Files.readAttributes(
                                dir.resolve(f), java.nio.file.attribute.BasicFileAttributes.class);
                ids.add(a.fileKey() != null ? a.fileKey() : a.lastModifiedTime());
            } catch (IOException e) {
                ids.add(null);
            }
        }
        return ids;
    }

    /** Sub-folders of {@code dir} that hold a saved adapter (named adapters, HF layout). */
    static List<Path> namedAdapterFolders(Path dir) throws IOException {
        List<Path> result = new ArrayList<>();
        try (Stream<Path> children = Files.list(dir)) {
            children.filter(Files::isDirectory)
                    .filter(
                            p ->
                                    !p.getFileName()
                                            .toString()
                                            .startsWith(".")) // swap siblings, hidden
                    .filter(p -> !Files.isSymbolicLink(p))
                    .filter(p -> Files.isRegularFile(p.resolve(CONFIG_FILE)))
                    .sorted()
                    .forEach(result::add);
        }
        return result;
    }

    private static String kind(JsonElement e) {
        return e.isJsonArray()
                ? "an array"
                : e.isJsonNull() ? "null" : "a " + e.getClass().getSimpleName();
    }
}
