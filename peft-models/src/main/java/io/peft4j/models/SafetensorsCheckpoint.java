package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.peft4j.core.io.SafetensorsFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The tensors of a Hugging Face checkpoint folder: {@code model.safetensors}, or the shards named
 * by {@code model.safetensors.index.json}. The only class in this module that reads safetensors
 * (through peft-core's {@link SafetensorsFile}).
 */
final class SafetensorsCheckpoint implements TensorSource {

    static final String SINGLE = "model.safetensors";
    static final String INDEX = "model.safetensors.index.json";

    private final Map<String, SafetensorsFile> fileOf;
    private final List<SafetensorsFile> files;
    private final List<String> names;

    private SafetensorsCheckpoint(
            Map<String, SafetensorsFile> fileOf, List<SafetensorsFile> files) {
        this.fileOf = fileOf;
        this.files = files;
        List<String> n = new ArrayList<>(fileOf.keySet());
        Collections.sort(n);
        this.names = Collections.unmodifiableList(n);
    }

    /**
     * Opens the weights of a checkpoint folder.
     *
     * @param dir folder with model.safetensors or model.safetensors.index.json
     * @return the open checkpoint; close it
     * @throws IllegalArgumentException if neither file is there (the message says what is), or the
     *     index names a tensor its shard lacks
     */
    static SafetensorsCheckpoint open(Path dir) {
        Path single = dir.resolve(SINGLE);
        Path index = dir.resolve(INDEX);
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            Map<String, SafetensorsFile> fileOf = new TreeMap<>();
            if (Files.isRegularFile(single)) {
                SafetensorsFile f = open(single, opened);
                for (String name : f.names()) {
                    fileOf.put(name, f);
                }
            } else if (Files.isRegularFile(index)) {
                JsonObject root = Json.readObject(index);
                if (!root.has("weight_map") || !root.get("weight_map").isJsonObject()) {
                    throw new IllegalArgumentException(index + ": no \"weight_map\" object");
                }
                Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
                for (Map.Entry<String, JsonElement> e :
                        root.getAsJsonObject("weight_map").entrySet()) {
                    String shardName = shardName(index, e.getKey(), e.getValue());
                    SafetensorsFile shard = shards.get(shardName);
                    if (shard == null) {
                        Path shardPath = dir.resolve(shardName);
                        if (!Files.isRegularFile(shardPath)) {
                            throw new IllegalArgumentException(
                                    index
                                            + " maps "
                                            + e.getKey()
                                            + " to "
                                            + shardName
                                            + ", which does not exist in "
                                            + dir);
                        }
                        shard = open(shardPath, opened);
                        shards.put(shardName, shard);
                    }
                    if (!shard.contains(e.getKey())) {
                        throw new IllegalArgumentException(
                                index
                                        + " maps "
                                        + e.getKey()
                                        + " to "
                                        + shardName
                                        + ", which has no such tensor");
                    }
                    fileOf.put(e.getKey(), shard);
                }
                for (Map.Entry<String, SafetensorsFile> s : shards.entrySet()) {
                    for (String name : s.getValue().names()) {
                        if (fileOf.get(name) != s.getValue()) {
                            throw new IllegalArgumentException(
                                    s.getKey()
                                            + " holds "
                                            + name
                                            + ", which "
                                            + index
                                            + " does not map to it");
                        }
                    }
                }
            } else {
                throw new IllegalArgumentException(noWeightsMessage(dir));
            }
            return new SafetensorsCheckpoint(fileOf, opened);
        } catch (RuntimeException e) {
            opened.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    /**
     * The shard a tensor is mapped to: a plain file name in the checkpoint folder. Paths (with a
     * separator, {@code ..}, absolute) are refused before anything is opened, so an index cannot
     * make the loader read a file outside the folder.
     */
    private static String shardName(Path index, String tensor, JsonElement value) {
        if (!value.isJsonPrimitive() || !value.getAsJsonPrimitive().isString()) {
            throw new IllegalArgumentException(
                    index
                            + " maps "
                            + tensor
                            + " to "
                            + Json.show(value)
                            + "; expected a shard file name");
        }
        String name = value.getAsString();
        if (name.isEmpty()
                || name.equals(".")
                || name.equals("..")
                || name.indexOf('/') >= 0
                || name.indexOf('\\') >= 0
                || name.indexOf('\0') >= 0
                || name.indexOf(':') >= 0) {
            throw new IllegalArgumentException(
                    index
                            + " maps "
                            + tensor
                            + " to "
                            + Json.show(value)
                            + ", which is not a file name in the checkpoint folder (shards must sit next to"
                            + " the index)");
        }
        return name;
    }

    private static String noWeightsMessage(Path dir) {
        StringBuilder sb = new StringBuilder(dir + " has neither " + SINGLE + " nor " + INDEX);
        if (Files.exists(dir.resolve("pytorch_model.bin"))) {
            sb.append(
                    " (it has pytorch_model.bin, a pickle file, which cannot be read from Java:"
                            + " convert it to safetensors)");
        }
        return sb.toString();
    }

    private static SafetensorsFile open(Path file, List<SafetensorsFile> opened) {
        try {
            SafetensorsFile f = SafetensorsFile.open(file);
            opened.add(f);
            return f;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + file, e);
        }
    }

    @Override
    public List<String> names() {
        return names;
    }

    @Override
    public Shape shape(String name) {
        return new Shape(fileOf.get(name).info(name).shape());
    }

    @Override
    public ai.djl.ndarray.types.DataType dataType(String name) {
        return fileOf.get(name).info(name).dtype().engineType();
    }

    @Override
    public String origin(String name) {
        return fileOf.get(name).path().getFileName().toString();
    }

    @Override
    public NDArray load(String name, NDManager manager) {
        return fileOf.get(name).load(name, manager);
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}
