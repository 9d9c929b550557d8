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
 * of labels and max length the adapter was trained with (so {@code eval}, {@code merge} and
 * {@code forward} can default to them), plus the measured results.
 */
final class RunInfo {

    static final String FILE = "training_run.json";

    private RunInfo() {}

    static void write(Path dir, JsonObject info) throws IOException {
        AtomicFiles.writeString(dir.resolve(FILE), new GsonBuilder().setPrettyPrinting().create().toJson(info) + "\n");
    }

    /** @return the adapter folder's run info, or an empty object */
    static JsonObject read(Path adapterDir) {
        if (adapterDir == null) {
            return new JsonObject();
        }
        Path file = adapterDir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            return new JsonObject();
        }
        try {
            return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            throw new UserError(file + ": unreadable (" + e.getMessage() + ")");
        }
    }

    static Task task(JsonObject info, Task fallback) {
        return info.has("task") ? Task.parse(info.get("task").getAsString()) : fallback;
    }

    static int intOr(JsonObject info, String key, int fallback) {
        return info.has(key) ? info.get(key).getAsInt() : fallback;
    }
}
