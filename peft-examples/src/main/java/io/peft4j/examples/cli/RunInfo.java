package io.peft4j.examples.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code training_run.json}, written by {@code train} next to the adapter: the task, model, number
 * of labels and max length the adapter was trained with (so {@code eval}, {@code merge} and {@code
 * forward} can default to them), plus the measured results.
 */
final class RunInfo {

    static final String FILE = "training_run.json";

    private RunInfo() {}

    static void write(Path dir, JsonObject info) throws IOException {
        AtomicFiles.writeString(
                dir.resolve(FILE),
                new GsonBuilder().setPrettyPrinting().create().toJson(info) + "\n");
    }

    /**
     * @return the adapter folder's run info, or an empty object
     */
    static JsonObject read(Path adapterDir) {
        if (adapterDir == null) {
            return new JsonObject();
        }
        Path file = adapterDir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            return new JsonObject();
        }
        if (!Files.isRegularFile(file)) {
            throw new UserError(file + " is not a regular file");
        }
        JsonObject info;
        try {
            if (Files.size(file) > (1 << 20)) {
                throw new UserError(
                        file
                                + " is "
                                + Files.size(file)
                                + " bytes; a run summary is a few hundred");
            }
            info = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            if (e instanceof UserError) {
                throw (UserError) e;
            }
            throw new UserError(file + ": unreadable (" + e.getMessage() + ")");
        }
        // the keys other commands default to: checked here, named as the file spells them
        checkString(file, info, "task");
        if (info.has("task")) {
            try {
                Task.parse(info.get("task").getAsString());
            } catch (UserError e) {
                throw new UserError(file + ": \"task\": " + e.getMessage());
            }
        }
        checkInt(file, info, "num_labels", 2, Labels.MAX);
        checkInt(file, info, "max_length", 2, 1 << 20);
        return info;
    }

    private static void checkString(Path file, JsonObject info, String key) {
        if (info.has(key)
                && !(info.get(key).isJsonPrimitive()
                        && info.get(key).getAsJsonPrimitive().isString())) {
            throw new UserError(
                    file + ": \"" + key + "\" must be a string, found " + info.get(key));
        }
    }

    private static void checkInt(Path file, JsonObject info, String key, int min, int max) {
        if (!info.has(key)) {
            return;
        }
        var v = info.get(key);
        java.math.BigDecimal d =
                v.isJsonPrimitive() && v.getAsJsonPrimitive().isNumber()
                        ? v.getAsBigDecimal()
                        : null;
        if (d == null
                || d.stripTrailingZeros().scale() > 0
                || d.compareTo(java.math.BigDecimal.valueOf(min)) < 0
                || d.compareTo(java.math.BigDecimal.valueOf(max)) > 0) {
            throw new UserError(
                    file
                            + ": \""
                            + key
                            + "\" must be an integer in ["
                            + min
                            + ", "
                            + max
                            + "], found "
                            + v);
        }
    }

    static Task task(JsonObject info, Task fallback) {
        return info.has("task") ? Task.parse(info.get("task").getAsString()) : fallback;
    }

    static int intOr(JsonObject info, String key, int fallback) {
        return info.has(key) ? info.get(key).getAsInt() : fallback;
    }
}
