package io.peft4j.core.config;

/**
 * A config whose value is its {@link ConfigValues}: two configs of the same class are equal when
 * their values are, and hash alike (a model config built from a file and the same config built by
 * hand compare equal).
 */
public abstract class ValuesBackedConfig {

    /** For subclasses. */
    protected ValuesBackedConfig() {}

    /**
     * The values this config holds, what equality compares.
     *
     * @return the values
     */
    protected abstract ConfigValues values();

    // getClass, not instanceof: a BertConfig never equals a LlamaConfig whose values happen to
    // match,
    // and the subclasses are final, so the symmetry instanceof would protect is not at stake
    @SuppressWarnings("EqualsGetClass")
    @Override
    public final boolean equals(Object o) {
        return o != null
                && o.getClass() == getClass()
                && values().equals(((ValuesBackedConfig) o).values());
    }

    @Override
    public final int hashCode() {
        return values().hashCode();
    }
}
