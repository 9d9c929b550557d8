package io.peft4j.models;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Small helpers to read Hugging Face JSON files (config.json, index files) with clear errors. */
final class Json {

    private Json() {}

    static JsonObject readObject(Path file) {
        try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            JsonElement element = JsonParser.parseReader(reader);
            if (!element.isJsonObject()) {
                throw new IllegalArgumentException(file + ": expected a JSON object at top level");
            }
            return element.getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + file, e);
        } catch (com.google.gson.JsonParseException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    static boolean has(JsonObject o, String key) {
        return o.has(key) && !o.get(key).isJsonNull();
    }

    static int intOr(JsonObject o, String key, int fallback) {
        return has(o, key) ? o.get(key).getAsInt() : fallback;
    }

    static int requireInt(JsonObject o, String key, String where) {
        if (!has(o, key)) {
            throw new IllegalArgumentException(where + ": missing required field \"" + key + "\"");
        }
        return o.get(key).getAsInt();
    }

    static double doubleOr(JsonObject o, String key, double fallback) {
        return has(o, key) ? o.get(key).getAsDouble() : fallback;
    }

    static boolean boolOr(JsonObject o, String key, boolean fallback) {
        return has(o, key) ? o.get(key).getAsBoolean() : fallback;
    }

    static String stringOr(JsonObject o, String key, String fallback) {
        return has(o, key) ? o.get(key).getAsString() : fallback;
    }

    /** Reads a field that is either an int or a list of ints (e.g. {@code eos_token_id}). */
    static List<Integer> intList(JsonObject o, String key) {
        List<Integer> out = new ArrayList<>();
        if (!has(o, key)) {
            return out;
        }
        JsonElement e = o.get(key);
        if (e.isJsonArray()) {
            e.getAsJsonArray().forEach(x -> out.add(x.getAsInt()));
        } else {
            out.add(e.getAsInt());
        }
        return out;
    }
}
