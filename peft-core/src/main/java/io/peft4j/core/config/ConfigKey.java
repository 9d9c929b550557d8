package io.peft4j.core.config;

import com.google.gson.JsonElement;
import com.google.gson.JsonPrimitive;
import io.peft4j.core.spi.ConfigJson;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * One setting of a config, declared once: its JSON key, its default, the checks a value must pass
 * (with the message of each) and how it is read from and written to JSON. Immutable; {@link #check}
 * returns a new key. Keys compare by identity: each is a constant of its config class.
 *
 * @param <T> the value's type
 */
public final class ConfigKey<T> {

    /**
     * Reads a value from JSON, naming the key in its errors.
     *
     * @param <T> the value's type
     */
    @FunctionalInterface
    public interface Reader<T> {
        /**
         * Reads a value.
         *
         * @param e the JSON value (not {@code null}, not JSON null)
         * @param key the key named in errors
         * @return the value
         * @throws IllegalArgumentException naming the key if {@code e} is not a valid value
         */
        T read(JsonElement e, String key);
    }

    private final String name;
    private final T defaultValue;
    private final Reader<? extends T> reader;
    private final Function<? super T, JsonElement> writer;
    private final List<Predicate<? super T>> checks;
    private final List<String> messages;

    private ConfigKey(
            String name,
            T defaultValue,
            Reader<? extends T> reader,
            Function<? super T, JsonElement> writer,
            List<Predicate<? super T>> checks,
            List<String> messages) {
        this.name = Objects.requireNonNull(name, "name");
        this.defaultValue = defaultValue;
        this.reader = reader;
        this.writer = writer;
        this.checks = List.copyOf(checks);
        this.messages = List.copyOf(messages);
    }

    /**
     * A key read with {@code reader} and written with {@code writer}.
     *
     * @param <T> the value's type
     * @param name the JSON key
     * @param defaultValue the value when none is set (may be {@code null})
     * @param reader reads a JSON value, or {@code null} for a key that is never read back (a config
     *     may still read it its own way)
     * @param writer the JSON form of a value, or {@code null} to leave the key out; the function
     *     itself {@code null} for a key that is never written
     * @return the key
     */
    public static <T> ConfigKey<T> of(
            String name,
            T defaultValue,
            Reader<? extends T> reader,
            Function<? super T, JsonElement> writer) {
        return new ConfigKey<>(name, defaultValue, reader, writer, List.of(), List.of());
    }

    /**
     * An int, read exactly ({@link ConfigJson#intValue}).
     *
     * @param name the JSON key
     * @param defaultValue the default
     * @return the key
     */
    public static ConfigKey<Integer> ofInt(String name, int defaultValue) {
        return of(name, defaultValue, ConfigJson::intValue, JsonPrimitive::new);
    }

    /**
     * A long, read exactly ({@link ConfigJson#longValue}).
     *
     * @param name the JSON key
     * @param defaultValue the default
     * @return the key
     */
    public static ConfigKey<Long> ofLong(String name, long defaultValue) {
        return of(name, defaultValue, ConfigJson::longValue, JsonPrimitive::new);
    }

    /**
     * A finite float ({@link ConfigJson#floatValue}).
     *
     * @param name the JSON key
     * @param defaultValue the default
     * @return the key
     */
    public static ConfigKey<Float> ofFloat(String name, float defaultValue) {
        return of(name, defaultValue, ConfigJson::floatValue, JsonPrimitive::new);
    }

    /**
     * A finite double ({@link ConfigJson#doubleValue}).
     *
     * @param name the JSON key
     * @param defaultValue the default
     * @return the key
     */
    public static ConfigKey<Double> ofDouble(String name, double defaultValue) {
        return of(name, defaultValue, ConfigJson::doubleValue, JsonPrimitive::new);
    }

    /**
     * A JSON boolean ({@link ConfigJson#boolValue}).
     *
     * @param name the JSON key
     * @param defaultValue the default
     * @return the key
     */
    public static ConfigKey<Boolean> ofBool(String name, boolean defaultValue) {
        return of(name, defaultValue, ConfigJson::boolValue, JsonPrimitive::new);
    }

    /**
     * A value written as text and read back by {@code parse} (e.g. an enum by its JSON name; a
     * number or boolean in the file is taken as its text, as {@link ConfigJson#textValue}).
     *
     * @param <T> the value's type
     * @param name the JSON key
     * @param defaultValue the default
     * @param parse the value of a text; throws {@link IllegalArgumentException} for a bad one
     * @param text the text of a value
     * @return the key
     */
    public static <T> ConfigKey<T> ofText(
            String name,
            T defaultValue,
            Function<String, ? extends T> parse,
            Function<? super T, String> text) {
        return of(
                name,
                defaultValue,
                (e, key) -> parse.apply(ConfigJson.textValue(e, key)),
                v -> new JsonPrimitive(text.apply(v)));
    }

    /**
     * A value no file holds (e.g. a seed peft has no key for): never read, never written.
     *
     * @param <T> the value's type
     * @param name the key's name, in messages only
     * @param defaultValue the default
     * @return the key
     */
    public static <T> ConfigKey<T> internal(String name, T defaultValue) {
        return of(name, defaultValue, null, null);
    }

    /**
     * As {@link #internal}, for an int that must be &gt; 0, refused with "{@code <name> must be >
     * 0, got <value>}".
     *
     * @param name the key's name, in messages
     * @param defaultValue the default
     * @return the key
     */
    public static ConfigKey<Integer> positiveInt(String name, int defaultValue) {
        return internal(name, defaultValue).check(v -> v > 0, name + " must be > 0, got %s");
    }

    /**
     * This key with one more check: a value failing {@code ok} is refused with {@code message},
     * where the first {@code %s} stands for the value (as in Guava's {@code Preconditions}).
     *
     * @param ok the condition a value must meet
     * @param message the error's message template
     * @return the new key
     */
    public ConfigKey<T> check(Predicate<? super T> ok, String message) {
        List<Predicate<? super T>> c = new ArrayList<>(checks);
        c.add(ok);
        List<String> m = new ArrayList<>(messages);
        m.add(message);
        return new ConfigKey<>(name, defaultValue, reader, writer, c, m);
    }

    /**
     * This key with {@code null} refused, with {@code message} as the error.
     *
     * @param message the error message
     * @return the new key
     */
    public ConfigKey<T> nonNull(String message) {
        return check(Objects::nonNull, message);
    }

    /** {@return the JSON key} */
    public String name() {
        return name;
    }

    /** {@return the value when none is set} */
    public T defaultValue() {
        return defaultValue;
    }

    /** {@return whether files hold this key (it is written, read, or both)} */
    public boolean inFiles() {
        return reader != null || writer != null;
    }

    /** {@return whether a file's value of this key is read back into it} */
    boolean readable() {
        return reader != null;
    }

    /**
     * Checks {@code value} against every check of this key.
     *
     * @param value the value
     * @return the value
     * @throws IllegalArgumentException with the first failed check's message
     */
    T checked(T value) {
        for (int i = 0; i < checks.size(); i++) {
            if (!checks.get(i).test(value)) {
                throw new IllegalArgumentException(message(messages.get(i), value));
            }
        }
        return value;
    }

    /** The message with its first {@code %s} replaced by the value; one without is kept as is. */
    private static String message(String template, Object value) {
        int at = template.indexOf("%s");
        return at < 0 ? template : template.substring(0, at) + value + template.substring(at + 2);
    }

    /** Reads the value of {@code e}. */
    T read(JsonElement e) {
        return reader.read(e, name);
    }

    /** The JSON form of {@code value}; {@code null} to leave the key out. */
    JsonElement write(T value) {
        return writer == null ? null : writer.apply(value);
    }

    @Override
    public String toString() {
        return name;
    }
}
