package io.peft4j.examples.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import java.io.PrintStream;

/**
 * Writes a command's result as one JSON object on one line (nulls kept, so every key is always
 * there).
 */
final class JsonOutput {

    private JsonOutput() {}

    static void print(PrintStream out, JsonObject result) {
        out.println(new GsonBuilder().serializeNulls().create().toJson(result));
        out.flush();
    }
}
