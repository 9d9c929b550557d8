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
        return has(o, key) ? intValue(o.get(key), key) : fallback;
    }

    static int requireInt(JsonObject o, String key, String where) {
        if (!has(o, key)) {
            throw new IllegalArgumentException(where + ": missing required field \"" + key + "\"");
        }
        return intValue(o.get(key), key);
    }

    static double doubleOr(JsonObject o, String key, double fallback) {
        if (!has(o, key)) {
            return fallback;
        }
        JsonElement e = o.get(key);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new IllegalArgumentException(
                    "\"" + key + "\" must be a number, found " + show(e));
        }
        return e.getAsDouble();
    }

    static boolean boolOr(JsonObject o, String key, boolean fallback) {
        if (!has(o, key)) {
            return fallback;
        }
        JsonElement e = o.get(key);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
            throw new IllegalArgumentException(
                    "\"" + key + "\" must be true or false, found " + show(e));
        }
        return e.getAsBoolean();
    }

    static String stringOr(JsonObject o, String key, String fallback) {
        if (!has(o, key)) {
            return fallback;
        }
        JsonElement e = o.get(key);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new IllegalArgumentException(
                    "\"" + key + "\" must be a string, found " + show(e));
        }
        return e.getAsString();
    }

    /** The object under {@code key}, or null when absent. */
    static JsonObject objectOr(JsonObject o, String key) {
        if (!has(o, key)) {
            return null;
        }
        JsonElement e = o.get(key);
        if (!e.isJsonObject()) {
            throw new IllegalArgumentException(
                    "\"" + key + "\" must be an object, found " + show(e));
        }
        return e.getAsJsonObject();
    }

    /**
     * An exact int: Gson's getAsInt silently truncates 99999999999 and 1.5, and reads "12" or [12]
     * as 12.
     */
    static int intValue(JsonElement e, String key) {
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new IllegalArgumentException(
                    "\"" + key + "\" must be an integer, found " + show(e));
        }
        try {
            return e.getAsBigDecimal().intValueExact();
        } catch (ArithmeticException | NumberFormatException ex) {
            throw new IllegalArgumentException(
                    "\"" + key + "\" must be an integer in int range, found " + show(e));
        }
    }

    /**
     * @return {@code e} if its message starts with {@code where}, else an exception whose message
     *     does (a field check or a builder precondition names the field but not the file)
     */
    static IllegalArgumentException naming(String where, IllegalArgumentException e) {
        if (e.getMessage() != null && e.getMessage().startsWith(where)) {
            return e;
        }
        return new IllegalArgumentException(where + ": " + e.getMessage(), e);
    }

    /** A JSON value for an error message, cut short. */
    static String show(JsonElement e) {
        String s = e.toString();
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }

    /** Reads a field that is either an int or a list of ints (e.g. {@code eos_token_id}). */
    static List<Integer> intList(JsonObject o, String key) {
        List<Integer> out = new ArrayList<>();
        if (!has(o, key)) {
            return out;
        }
        JsonElement e = o.get(key);
        if (e.isJsonArray()) {
            e.getAsJsonArray().forEach(x -> out.add(intValue(x, key)));
        } else {
            out.add(intValue(e, key));
        }
        return out;
    }
}
