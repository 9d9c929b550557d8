package io.peft4j.core.spi;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import io.peft4j.core.target.TargetSpec;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Reading and writing the {@code adapter_config.json} keys that are not a method's own, the same
 * way for every method: {@code peft_type}, {@code task_type}, {@code base_model_name_or_path},
 * {@code inference_mode}, {@code modules_to_save} and the target keys {@code target_modules},
 * {@code exclude_modules}, {@code layers_to_transform}, {@code layers_pattern}; plus the checks and
 * the unknown-key warning every method's {@code fromJson} makes.
 *
 * <p>A JSON {@code null} counts as absent, as in peft, which writes {@code null} for unset fields.
 */
public final class ConfigJson {

    /** Keys every config may hold that are not its method's own. */
    public static final Set<String> COMMON_KEYS =
            Set.of(
                    "peft_type",
                    "task_type",
                    "base_model_name_or_path",
                    "inference_mode",
                    "modules_to_save");

    /** The keys of a {@link TargetSpec}. */
    public static final Set<String> TARGET_KEYS =
            Set.of("target_modules", "exclude_modules", "layers_to_transform", "layers_pattern");

    private ConfigJson() {}

    /**
     * {@link #COMMON_KEYS} and the method's own keys: what a config without targets reads.
     *
     * @param own the method's own keys
     * @return the union of the keys
     */
    public static Set<String> commonKeys(String... own) {
        return union(COMMON_KEYS, Set.of(own));
    }

    /**
     * {@link #COMMON_KEYS}, {@link #TARGET_KEYS} and the method's own keys: what a targeted config
     * reads.
     *
     * @param own the method's own keys
     * @return the union of the keys
     */
    public static Set<String> targetedKeys(String... own) {
        return union(COMMON_KEYS, TARGET_KEYS, Set.of(own));
    }

    /**
     * As {@link #commonKeys(String...)}, for own keys given as a list (e.g. a config's {@code
     * ConfigValues#jsonKeys()}) plus more.
     *
     * @param own the method's own keys
     * @param more further keys the method reads
     * @return the union of the keys
     */
    public static Set<String> commonKeys(Collection<String> own, String... more) {
        return union(COMMON_KEYS, Set.copyOf(own), Set.of(more));
    }

    /**
     * As {@link #targetedKeys(String...)}, for own keys given as a list (e.g. a config's {@code
     * ConfigValues#jsonKeys()}) plus more.
     *
     * @param own the method's own keys
     * @param more further keys the method reads
     * @return the union of the keys
     */
    public static Set<String> targetedKeys(Collection<String> own, String... more) {
        return union(COMMON_KEYS, TARGET_KEYS, Set.copyOf(own), Set.of(more));
    }

    /**
     * Whether {@code key} is present and not {@code null}.
     *
     * @param j the config object
     * @param key the key
     * @return whether the key has a non-null value
     */
    public static boolean has(JsonObject j, String key) {
        JsonElement e = j.get(key);
        return e != null && !e.isJsonNull();
    }

    /**
     * Checks the required keys are present (and not {@code null}).
     *
     * @param j the config object
     * @param method the method's name in messages, e.g. {@code LoRA}
     * @param keys the required keys
     * @throws IllegalArgumentException "{@code <method> config is missing "<key>"}" for the first
     *     missing one
     */
    public static void require(JsonObject j, String method, String... keys) {
        for (String key : keys) {
            if (!has(j, key)) {
                throw new IllegalArgumentException(method + " config is missing \"" + key + "\"");
            }
        }
    }

    /**
     * A value given as text, e.g. on a command line: JSON when it parses as JSON and is not a bare
     * string ({@code 3}, {@code 0.5}, {@code true}, {@code [1,2]}, {@code {"a":1}}), else the text
     * as a string ({@code largest}, {@code q_proj}).
     *
     * @param text the value's text
     * @return the JSON value
     */
    public static JsonElement fromText(String text) {
        try {
            JsonElement e = JsonParser.parseString(text);
            if (e != null
                    && !e.isJsonNull()
                    && !(e.isJsonPrimitive() && e.getAsJsonPrimitive().isString())) {
                return e;
            }
        } catch (JsonParseException e) {
            // not JSON: a bare string
        }
        return new JsonPrimitive(text);
    }

    /**
     * Reports every key outside {@code known} as "{@code unknown <method> config key "<key>"
     * ignored}", in file order: a newer peft (or a typo) may add options we do not honour, and the
     * user should hear that they were dropped.
     *
     * @param j the config object
     * @param known the keys the method reads
     * @param method the method's name in messages
     * @param warnings receives one message per unknown key
     */
    public static void warnUnknown(
            JsonObject j, Set<String> known, String method, Consumer<String> warnings) {
        for (String key : j.keySet()) {
            if (!known.contains(key)) {
                warnings.accept("unknown " + method + " config key \"" + key + "\" ignored");
            }
        }
    }

    /**
     * Sets on {@code b} every key present in {@code j} that it reads: the method's own values (its
     * {@link io.peft4j.core.config.ConfigKey settings} that are read back), the target keys, {@code
     * modules_to_save}, {@code task_type} and {@code base_model_name_or_path}. A missing {@code
     * target_modules} leaves the builder's default; whether it is required is the method's {@link
     * #require} call.
     *
     * @param j the config object
     * @param b the builder to set
     * @throws IllegalArgumentException naming the key of a value of the wrong type, or the
     *     builder's own message for a bad value (an empty target list, a bad regex, a negative
     *     layer)
     */
    public static void read(JsonObject j, TargetedConfigBuilder<?> b) {
        b.own.read(j);
        // peft: target_modules and exclude_modules are a list of names or one regex string
        // ("all-linear" for the targets); layers_pattern a list of names or one name
        namesOrString(j, "target_modules", b::targets, b::targetRegex);
        namesOrString(j, "exclude_modules", b::exclude, b::excludeRegex);
        namesOrString(
                j, "layers_pattern", b::layersPattern, name -> b.layersPattern(List.of(name)));
        if (has(j, "layers_to_transform")) {
            // peft: an int or a list of ints
            JsonElement l = j.get("layers_to_transform");
            List<Integer> layers = new ArrayList<>();
            for (JsonElement x : l.isJsonArray() ? l.getAsJsonArray() : List.of(l)) {
                layers.add(intValue(x, "layers_to_transform"));
            }
            b.layersToTransform(layers);
        }
        b.modulesToSave(modulesToSave(j));
        if (has(j, "task_type")) {
            b.taskType(string(j.get("task_type"), "task_type"));
        }
        if (has(j, "base_model_name_or_path")) {
            b.baseModelNameOrPath(
                    string(j.get("base_model_name_or_path"), "base_model_name_or_path"));
        }
    }

    /**
     * {@code modules_to_save}: a list of names, empty when absent.
     *
     * @param j the config object
     * @return the module names
     */
    public static List<String> modulesToSave(JsonObject j) {
        return has(j, "modules_to_save")
                ? strings(j.get("modules_to_save"), "modules_to_save")
                : List.of();
    }

    /**
     * Adds {@code target_modules} (the names, or the regex as one string), {@code exclude_modules}
     * (the names, the regex, or null), {@code layers_to_transform} (sorted, or null) and {@code
     * layers_pattern} (a list, or null), in that order.
     *
     * @param j the object to add to
     * @param t the targets to write
     */
    public static void writeTargets(JsonObject j, TargetSpec t) {
        j.add(
                "target_modules",
                t.targetRegex().isPresent()
                        ? new JsonPrimitive(t.targetRegex().get())
                        : strings(t.targetNames()));
        j.add(
                "exclude_modules",
                t.excludeRegex().isPresent()
                        ? new JsonPrimitive(t.excludeRegex().get())
                        : t.excludeNames().isEmpty()
                                ? JsonNull.INSTANCE
                                : strings(t.excludeNames()));
        JsonElement layers = JsonNull.INSTANCE;
        if (!t.layersToTransform().isEmpty()) {
            JsonArray a = new JsonArray();
            t.layersToTransform().stream().sorted().forEach(a::add);
            layers = a;
        }
        j.add("layers_to_transform", layers);
        j.add(
                "layers_pattern",
                t.layersPattern().isEmpty() ? JsonNull.INSTANCE : strings(t.layersPattern()));
    }

    /**
     * Adds {@code modules_to_save} at the end when there are any; files without them stay as they
     * were.
     *
     * @param j the object to add to
     * @param modulesToSave the module names
     */
    public static void writeModulesToSave(JsonObject j, List<String> modulesToSave) {
        if (!modulesToSave.isEmpty()) {
            j.add("modules_to_save", strings(modulesToSave));
        }
    }

    /**
     * A float as peft writes {@code lora_alpha}: a whole value as an int ({@code 16}), any other as
     * a float ({@code 0.5}).
     *
     * @param v the value
     * @return the JSON number
     */
    public static JsonPrimitive wholeOrFloat(float v) {
        return new JsonPrimitive(v == Math.rint(v) ? (Number) (int) v : v);
    }

    /**
     * A copy of {@code j} with its top-level keys in sorted order (peft writes {@code
     * sort_keys=True}).
     *
     * @param j the object to copy
     * @return the sorted copy
     */
    public static JsonObject sortedKeys(JsonObject j) {
        JsonObject out = new JsonObject();
        new TreeSet<>(j.keySet()).forEach(k -> out.add(k, j.get(k)));
        return out;
    }

    /**
     * {@code s} as a JSON string, or JSON {@code null}.
     *
     * @param s the string, or {@code null}
     * @return the JSON value
     */
    public static JsonElement stringOrNull(String s) {
        return s == null ? JsonNull.INSTANCE : new JsonPrimitive(s);
    }

    /**
     * The values as a JSON array of strings.
     *
     * @param values the strings
     * @return a new JSON array
     */
    public static JsonArray strings(Collection<String> values) {
        JsonArray a = new JsonArray();
        values.forEach(a::add);
        return a;
    }

    /**
     * An exact int: Gson's {@code getAsInt} would silently truncate 1.5 or 99999999999.
     *
     * @param e the JSON value
     * @param key the key named in errors
     * @return the int value
     * @throws IllegalArgumentException naming {@code key} if {@code e} is not an integer in int
     *     range
     */
    public static int intValue(JsonElement e, String key) {
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new IllegalArgumentException("\"" + key + "\" must be an integer, found " + e);
        }
        BigDecimal d = e.getAsBigDecimal();
        try {
            return d.intValueExact();
        } catch (ArithmeticException ex) {
            throw new IllegalArgumentException(
                    "\"" + key + "\" must be an integer in int range, found " + e);
        }
    }

    /**
     * A finite number (a JSON number, not a string; NaN and Infinity, which Gson's lenient parser
     * accepts, are refused).
     *
     * @param e the JSON value
     * @param key the key named in errors
     * @return the number
     * @throws IllegalArgumentException naming {@code key}
     */
    public static double doubleValue(JsonElement e, String key) {
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new IllegalArgumentException("\"" + key + "\" must be a number, found " + e);
        }
        double v = e.getAsDouble();
        if (!Double.isFinite(v)) {
            throw new IllegalArgumentException(
                    "\"" + key + "\" must be a finite number, found " + e);
        }
        return v;
    }

    /**
     * As {@link #doubleValue}, as a float (which must also be finite).
     *
     * @param e the JSON value
     * @param key the key named in errors
     * @return the number as a float
     */
    public static float floatValue(JsonElement e, String key) {
        double v = doubleValue(e, key);
        if (Math.abs(v) > Float.MAX_VALUE) {
            throw new IllegalArgumentException(
                    "\"" + key + "\" must be a finite float, found " + e);
        }
        return (float) v;
    }

    /**
     * A JSON boolean.
     *
     * @param e the JSON value
     * @param key the key named in errors
     * @return the boolean
     * @throws IllegalArgumentException naming {@code key} for anything else
     */
    public static boolean boolValue(JsonElement e, String key) {
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
            throw new IllegalArgumentException("\"" + key + "\" must be true or false, found " + e);
        }
        return e.getAsBoolean();
    }

    /**
     * A JSON object.
     *
     * @param e the JSON value
     * @param key the key named in errors
     * @return the object
     * @throws IllegalArgumentException naming {@code key} for anything else
     */
    public static JsonObject objectValue(JsonElement e, String key) {
        if (e == null || !e.isJsonObject()) {
            throw new IllegalArgumentException("\"" + key + "\" must be an object, found " + e);
        }
        return e.getAsJsonObject();
    }

    /**
     * A JSON string.
     *
     * @param e the JSON value
     * @param key the key named in errors
     * @return the string
     * @throws IllegalArgumentException naming {@code key} for anything else
     */
    public static String stringValue(JsonElement e, String key) {
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new IllegalArgumentException("\"" + key + "\" must be a string, found " + e);
        }
        return e.getAsString();
    }

    /**
     * A text value: a string, or a number or boolean taken as its text (as Gson reads one); a name
     * parsed afterwards, e.g. an enum's, reports its own bad values.
     *
     * @param e the JSON value
     * @param key the key named in errors
     * @return the text
     * @throws IllegalArgumentException naming {@code key} if {@code e} is a list or an object
     */
    public static String textValue(JsonElement e, String key) {
        return string(e, key);
    }

    /**
     * Passes {@code key}'s text value, when present (and not {@code null}), to {@code set}; an
     * absent key leaves the builder's default. As Gson reads one, a number or a boolean is taken as
     * its text (a name parsed afterwards, e.g. an enum's, reports its own bad values). Typed values
     * are read by their {@code ConfigKey}s ({@code config.ConfigValues.Builder#read}).
     *
     * @param j the config object
     * @param key the key
     * @param set receives the value
     * @throws IllegalArgumentException naming {@code key} if the value is a list or an object
     */
    public static void readString(JsonObject j, String key, Consumer<String> set) {
        if (has(j, key)) {
            set.accept(string(j.get(key), key));
        }
    }

    /**
     * Refuses any value of {@code key} but {@code supported} (absent or {@code null} is fine): for
     * a peft option the method implements in one setting only, e.g. {@code bias} {@code "none"}.
     *
     * @param j the config object
     * @param key the key
     * @param supported the one value the method implements
     * @param method the method's name in messages
     * @throws IllegalArgumentException "{@code <key>="<value>" is not supported by <method>; only
     *     "<supported>"}"
     */
    public static void requireOnly(JsonObject j, String key, String supported, String method) {
        if (has(j, key) && !supported.equals(string(j.get(key), key))) {
            throw new IllegalArgumentException(
                    key
                            + "=\""
                            + j.get(key).getAsString()
                            + "\" is not supported by "
                            + method
                            + "; only \""
                            + supported
                            + "\"");
        }
    }

    /**
     * How a config file names an enum constant: its name in lower case ({@code largest} for {@code
     * LARGEST}), as peft writes its string options.
     *
     * @param constant the constant
     * @return its JSON name
     */
    public static String jsonName(Enum<?> constant) {
        return constant.name().toLowerCase(Locale.ROOT);
    }

    /**
     * The constant of {@code type} whose {@link #jsonName} is {@code text}, ignoring case and
     * surrounding space.
     *
     * @param <E> the enum type
     * @param type the enum class
     * @param text the value read, or {@code null}
     * @param what the option in messages, e.g. {@code LIFT mask_selection}
     * @return the constant
     * @throws IllegalArgumentException "{@code <what> must be "a" or "b", got "<text>"}" for any
     *     other text
     */
    public static <E extends Enum<E>> E enumValue(Class<E> type, String text, String what) {
        E[] constants = type.getEnumConstants();
        if (text != null) {
            for (E e : constants) {
                if (jsonName(e).equalsIgnoreCase(text.trim())) {
                    return e;
                }
            }
        }
        List<String> quoted = Stream.of(constants).map(e -> "\"" + jsonName(e) + "\"").toList();
        String choices =
                quoted.size() == 1
                        ? quoted.get(0)
                        : String.join(", ", quoted.subList(0, quoted.size() - 1))
                                + " or "
                                + quoted.get(quoted.size() - 1);
        throw new IllegalArgumentException(
                what
                        + " must be "
                        + choices
                        + ", got "
                        + (text == null ? "null" : "\"" + text + "\""));
    }

    /**
     * An exact long, as {@link #intValue} for an int.
     *
     * @param e the JSON value
     * @param key the key named in errors
     * @return the long value
     * @throws IllegalArgumentException naming {@code key} if {@code e} is not an integer in long
     *     range
     */
    public static long longValue(JsonElement e, String key) {
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new IllegalArgumentException("\"" + key + "\" must be an integer, found " + e);
        }
        try {
            return e.getAsBigDecimal().longValueExact();
        } catch (ArithmeticException ex) {
            throw new IllegalArgumentException(
                    "\"" + key + "\" must be an integer in long range, found " + e);
        }
    }

    /**
     * Passes {@code key}'s value, when present, to {@code names} if it is a list, else to {@code
     * string}.
     */
    private static void namesOrString(
            JsonObject j, String key, Consumer<List<String>> names, Consumer<String> string) {
        if (!has(j, key)) {
            return;
        }
        JsonElement e = j.get(key);
        if (e.isJsonArray()) {
            names.accept(strings(e, key));
        } else {
            string.accept(string(e, key, "a string or a list of strings"));
        }
    }

    private static String string(JsonElement e, String key) {
        return string(e, key, "a string");
    }

    /** A string value; as Gson reads one, a number or a boolean is taken as its text. */
    private static String string(JsonElement e, String key, String expected) {
        if (!e.isJsonPrimitive()) {
            throw new IllegalArgumentException(
                    "\"" + key + "\" must be " + expected + ", found " + e);
        }
        return e.getAsString();
    }

    private static List<String> strings(JsonElement e, String key) {
        if (!e.isJsonArray()
                || !e.getAsJsonArray().asList().stream().allMatch(JsonElement::isJsonPrimitive)) {
            throw new IllegalArgumentException(
                    "\"" + key + "\" must be a list of strings, found " + e);
        }
        return e.getAsJsonArray().asList().stream().map(JsonElement::getAsString).toList();
    }

    @SafeVarargs
    private static Set<String> union(Set<String>... sets) {
        return Stream.of(sets).flatMap(Set::stream).collect(Collectors.toUnmodifiableSet());
    }
}
