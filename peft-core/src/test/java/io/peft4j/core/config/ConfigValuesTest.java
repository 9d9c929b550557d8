package io.peft4j.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConfigValuesTest {

    private static final ConfigKey<Integer> RANK =
            ConfigKey.ofInt("r", 8).check(r -> r > 0, "rank r must be > 0, got %s");
    private static final ConfigKey<Float> DROPOUT =
            ConfigKey.ofFloat("dropout", 0.1f)
                    .check(d -> d >= 0 && d < 1, "dropout must be in [0, 1), got %s");
    private static final ConfigKey<String> PATH =
            ConfigKey.of(
                    "path", null, null, v -> v == null ? JsonNull.INSTANCE : new JsonPrimitive(v));
    private static final ConfigKey<Long> SEED = ConfigKey.internal("seed", 0L);
    private static final ConfigKey<Integer> OTHER = ConfigKey.ofInt("other", 1);

    private static final ConfigValues DEFAULTS = ConfigValues.defaults(RANK, DROPOUT, PATH, SEED);

    @Test
    void startsFromTheDefaultsAndSetChecksAtOnce() {
        assertEquals(8, DEFAULTS.get(RANK));
        assertEquals(0.1f, DEFAULTS.get(DROPOUT));
        assertNull(DEFAULTS.get(PATH));
        ConfigValues.Builder b = DEFAULTS.toBuilder().set(RANK, 4);
        assertEquals(4, b.build().get(RANK));
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> b.set(RANK, 0));
        assertEquals("rank r must be > 0, got 0", e.getMessage());
        assertEquals(4, b.get(RANK), "a refused value leaves the old one");
        assertEquals(8, DEFAULTS.get(RANK), "the defaults are not changed by a builder");
    }

    @Test
    void putDefersTheCheckToBuild() {
        ConfigValues.Builder b = DEFAULTS.toBuilder().put(DROPOUT, 1.5f);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b::build);
        assertEquals("dropout must be in [0, 1), got 1.5", e.getMessage());
        assertEquals(0.5f, b.put(DROPOUT, 0.5f).build().get(DROPOUT));
    }

    @Test
    void aKeyOutsideTheValuesIsRefusedNamingIt() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> DEFAULTS.get(OTHER));
        assertTrue(e.getMessage().contains("\"other\""), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DEFAULTS.toBuilder().set(OTHER, 2));
    }

    @Test
    void writesAndReadsTheKeysFilesHold() {
        JsonObject j = new JsonObject();
        DEFAULTS.toBuilder().set(RANK, 16).set(SEED, 7L).build().writeTo(j);
        // in declared order; the internal seed is not written, a null path is written as null
        assertEquals(List.of("r", "dropout", "path"), List.copyOf(j.keySet()));
        assertEquals(16, j.get("r").getAsInt());
        assertTrue(j.get("path").isJsonNull());
        assertEquals(List.of("r", "dropout", "path"), DEFAULTS.jsonKeys());

        JsonObject file =
                JsonParser.parseString(
                                "{\"r\": 32, \"path\": \"/x\", \"seed\": 3, \"dropout\": null}")
                        .getAsJsonObject();
        ConfigValues read = DEFAULTS.toBuilder().read(file).build();
        assertEquals(32, read.get(RANK));
        assertEquals(0.1f, read.get(DROPOUT), "null counts as absent");
        assertNull(read.get(PATH), "a key without a reader is not read back");
        assertEquals(0L, read.get(SEED), "an internal key is not read");

        JsonObject bad = JsonParser.parseString("{\"r\": 0}").getAsJsonObject();
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> DEFAULTS.toBuilder().read(bad));
        assertEquals("rank r must be > 0, got 0", e.getMessage());
        JsonObject wrongType = JsonParser.parseString("{\"r\": 1.5}").getAsJsonObject();
        e =
                assertThrows(
                        IllegalArgumentException.class, () -> DEFAULTS.toBuilder().read(wrongType));
        assertTrue(e.getMessage().contains("\"r\""), e.getMessage());
    }

    @Test
    void equalWhenTheyHoldEqualValues() {
        ConfigValues a = DEFAULTS.toBuilder().set(RANK, 4).build();
        ConfigValues b = DEFAULTS.toBuilder().set(RANK, 4).build();
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertNotEquals(a, DEFAULTS);
        assertEquals(a, a.toBuilder().build());
        assertFalse(a.equals(ConfigValues.defaults(RANK)));
    }

    @Test
    void typedReadsSetOnlyPresentKeysAndNameTheKeyOfABadValue() {
        ConfigKey<Integer> n = ConfigKey.ofInt("n", 1);
        ConfigKey<Long> big = ConfigKey.ofLong("big", 2);
        ConfigKey<Float> f = ConfigKey.ofFloat("f", 3);
        ConfigKey<Double> d = ConfigKey.ofDouble("d", 4);
        ConfigKey<Boolean> b = ConfigKey.ofBool("b", false);
        ConfigKey<Integer> gone = ConfigKey.ofInt("gone", 5);
        ConfigKey<Integer> missing = ConfigKey.ofInt("missing", 6);
        ConfigValues read =
                ConfigValues.defaults(n, big, f, d, b, gone, missing).toBuilder()
                        .read(
                                JsonParser.parseString(
                                                "{\"n\": 3, \"big\": 5000000000, \"f\": 0.5,"
                                                        + " \"d\": 1e-6, \"b\": true, \"gone\": null}")
                                        .getAsJsonObject())
                        .build();
        assertEquals(3, read.get(n));
        assertEquals(5_000_000_000L, read.get(big));
        assertEquals(0.5f, read.get(f));
        assertEquals(1e-6, read.get(d));
        assertEquals(true, read.get(b));
        assertEquals(5, read.get(gone), "null keeps the default");
        assertEquals(6, read.get(missing), "absent keeps the default");
        assertReadNamesKey(big, "{\"big\": 1.5}", "big");
        assertReadNamesKey(n, "{\"n\": 5000000000}", "n");
    }

    /** Reading {@code json} into {@code key}'s defaults fails, naming the key in quotes. */
    private static void assertReadNamesKey(ConfigKey<?> key, String json, String name) {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                ConfigValues.defaults(key).toBuilder()
                                        .read(JsonParser.parseString(json).getAsJsonObject()));
        assertTrue(e.getMessage().contains("\"" + name + "\""), e.getMessage());
    }
}
