package io.peft4j.core.spi;

/**
 * An {@link AdapterConfig} whose value is its {@code adapter_config.json}: two configs are equal
 * when they write the same JSON, so a config's {@code equals}, {@code hashCode} and {@code
 * toString} can never leave out a key it saves (or count one it does not).
 */
public abstract class JsonValueConfig implements AdapterConfig {

    /** For subclasses. */
    protected JsonValueConfig() {}

    /** Equal when {@code o} is an adapter config writing the same {@link #toJson()}. */
    @Override
    public final boolean equals(Object o) {
        // peft_type is part of the JSON, so configs of two methods never compare equal
        return o instanceof JsonValueConfig && toJson().equals(((JsonValueConfig) o).toJson());
    }

    @Override
    public final int hashCode() {
        return toJson().hashCode();
    }

    /** {@return the class's simple name followed by the JSON} */
    @Override
    public String toString() {
        return getClass().getSimpleName() + toJson();
    }
}
