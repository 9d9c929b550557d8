package io.peft4j.models;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.file.Path;

/** Reads the golden fixtures under ../shared/fixtures. */
final class Fixtures {

    private Fixtures() {}

    static JsonObject read(String name) {
        Path p = TestSupport.requireShared("fixtures/" + name);
        return Json.readObject(p);
    }

    static long[] longs(JsonArray a) {
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsLong();
        }
        return out;
    }

    static float[][] matrix(JsonArray a) {
        float[][] out = new float[a.size()][];
        for (int i = 0; i < out.length; i++) {
            JsonArray row = a.get(i).getAsJsonArray();
            out[i] = new float[row.size()];
            int j = 0;
            for (JsonElement e : row) {
                out[i][j++] = e.getAsFloat();
            }
        }
        return out;
    }
}
