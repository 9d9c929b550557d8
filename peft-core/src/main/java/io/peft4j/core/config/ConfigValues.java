package io.peft4j.core.config;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.peft4j.core.spi.ConfigJson;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A config's values, one per {@link ConfigKey}, in the order the keys were declared: what the
 * config keeps instead of a field per setting, and what its builder fills (starting from the keys'
 * defaults). Immutable; {@link #toBuilder()} gives a builder holding the same values. Two values
 * are equal when they hold equal values for the same keys.
 */
public final class ConfigValues {

    private final Map<ConfigKey<?>, Object> values;

    private ConfigValues(Map<ConfigKey<?>, Object> values) {
        // a LinkedHashMap copy: values may be null (an unset optional setting), which Map.copyOf
        // refuses
        this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }

    /**
     * The defaults of {@code keys}: the values a new builder starts from.
     *
     * @param keys the config's keys, in the order its JSON lists them
     * @return the default values
     */
    public static ConfigValues defaults(ConfigKey<?>... keys) {
        Map<ConfigKey<?>, Object> m = new LinkedHashMap<>();
        for (ConfigKey<?> k : keys) {
            m.put(k, k.defaultValue());
        }
        return new ConfigValues(m);
    }

    /**
     * The value of {@code key}.
     *
     * @param <T> the value's type
     * @param key the key
     * @return its value (may be {@code null} for an optional setting)
     * @throws IllegalArgumentException if {@code key} is not one of these values' keys
     */
    public <T> T get(ConfigKey<T> key) {
        return valueOf(values, key);
    }

    /** {@return the JSON keys of the keys that files hold, in declared order} */
    public List<String> jsonKeys() {
        List<String> names = new ArrayList<>();
        values.keySet().stream().filter(ConfigKey::inFiles).forEach(k -> names.add(k.name()));
        return names;
    }

    /**
     * Adds every key that files hold to {@code j}, in declared order; a key whose writer gives
     * {@code null} for its value is left out.
     *
     * @param j the object to add to
     */
    public void writeTo(JsonObject j) {
        values.keySet().forEach(k -> writeKey(j, k));
    }

    /** {@return a builder holding these values} */
    public Builder toBuilder() {
        return new Builder(values);
    }

    private <T> void writeKey(JsonObject j, ConfigKey<T> key) {
        JsonElement e = key.write(valueOf(values, key));
        if (e != null) {
            j.add(key.name(), e);
        }
    }

    @SuppressWarnings("unchecked") // set(key, value) only ever stores a T under a ConfigKey<T>
    private static <T> T valueOf(Map<ConfigKey<?>, Object> values, ConfigKey<T> key) {
        if (!values.containsKey(key)) {
            throw new IllegalArgumentException("no config value \"" + key + "\" here");
        }
        return (T) values.get(key);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ConfigValues && values.equals(((ConfigValues) o).values);
    }

    @Override
    public int hashCode() {
        return values.hashCode();
    }

    /** {@return the values as {@code {key=value, ...}}} */
    @Override
    public String toString() {
        return values.toString();
    }

    /** Mutable values of the same keys; {@link #set} checks each value as it comes. */
    public static final class Builder {
        private final Map<ConfigKey<?>, Object> values;

        private Builder(Map<ConfigKey<?>, Object> values) {
            this.values = new LinkedHashMap<>(values);
        }

        /**
         * Sets {@code key} after checking {@code value} against the key's checks.
         *
         * @param <T> the value's type
         * @param key the key (one of these values')
         * @param value the value
         * @return this builder
         * @throws IllegalArgumentException with the failed check's message, or if {@code key} is
         *     not one of these values' keys
         */
        public <T> Builder set(ConfigKey<T> key, T value) {
            valueOf(values, key);
            values.put(key, key.checked(value));
            return this;
        }

        /**
         * Sets {@code key} without checking {@code value} now: {@link #build()} checks it (for a
         * config whose builder reports bad values when it is built, not when they are set).
         *
         * @param <T> the value's type
         * @param key the key (one of these values')
         * @param value the value
         * @return this builder
         * @throws IllegalArgumentException if {@code key} is not one of these values' keys
         */
        public <T> Builder put(ConfigKey<T> key, T value) {
            valueOf(values, key);
            values.put(key, value);
            return this;
        }

        /**
         * The value of {@code key} set so far (its default if none was set).
         *
         * @param <T> the value's type
         * @param key the key
         * @return the value
         * @throws IllegalArgumentException if {@code key} is not one of these values' keys
         */
        public <T> T get(ConfigKey<T> key) {
            return valueOf(values, key);
        }

        /**
         * Sets every key that is read back and that {@code j} has (not {@code null}), in declared
         * order; an absent key keeps its value.
         *
         * @param j the config object
         * @return this builder
         * @throws IllegalArgumentException naming the key of a value of the wrong type, or a
         *     check's message
         */
        public Builder read(JsonObject j) {
            List<ConfigKey<?>> keys = new ArrayList<>(values.keySet());
            for (ConfigKey<?> k : keys) {
                if (k.readable() && ConfigJson.has(j, k.name())) {
                    readKey(j, k);
                }
            }
            return this;
        }

        private <T> void readKey(JsonObject j, ConfigKey<T> key) {
            set(key, key.read(j.get(key.name())));
        }

        /**
         * The values set, each checked against its key's checks, in declared order.
         *
         * @return the values
         * @throws IllegalArgumentException with the first failed check's message
         */
        public ConfigValues build() {
            values.keySet().forEach(this::check);
            return new ConfigValues(values);
        }

        private <T> void check(ConfigKey<T> key) {
            key.checked(valueOf(values, key));
        }

        @Override
        public String toString() {
            return values.toString();
        }
    }
}
