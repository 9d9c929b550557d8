package io.peft4j.core.spi;

import com.google.gson.JsonObject;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A {@link PeftMethod} made of its parts: the {@code peft_type}, its display name, the config type
 * and the keys it reads, how a config is read, and how an adapter is attached. A method module's
 * {@code XxxMethod} names its parts in its (public, no-argument, as {@link java.util.ServiceLoader}
 * needs) constructor and overrides what tools need where the defaults of {@link PeftMethod} do not
 * fit (its own optimiser, how the common options map onto its keys, its bench settings).
 *
 * @param <C> the method's config type
 */
public abstract class AbstractPeftMethod<C extends AdapterConfig> implements PeftMethod {

    /** Reads a config, as {@link PeftMethod#parseConfig} does. */
    @FunctionalInterface
    public interface ConfigReader<C> {

        /**
         * The config in {@code json}; unknown keys are reported through {@code warnings}.
         *
         * @param json the {@code adapter_config.json} object
         * @param warnings receives a message for each unknown key
         * @return the config read
         */
        C read(JsonObject json, Consumer<String> warnings);
    }

    /** Attaches an adapter, as {@link PeftMethod#attach} does. */
    @FunctionalInterface
    public interface Injector<C> {

        /**
         * Attaches adapter {@code name} with {@code config} to the model in {@code context}.
         *
         * @param context the model and runtime to attach to
         * @param config the adapter's configuration
         * @param name the adapter's name
         * @return the attached adapter
         */
        Adapter inject(AdapterContext context, C config, String name);
    }

    private final String peftType;
    private final String displayName;
    private final Class<C> configType;
    private final Set<String> configKeys;
    private final ConfigReader<? extends C> reader;
    private final Injector<? super C> injector;

    /**
     * A method of {@code peftType}, taking configs of {@code configType}.
     *
     * @param peftType the {@code peft_type} id, e.g. {@code LORA}
     * @param displayName the name in messages and tables, e.g. {@code LoRA}
     * @param configType the config class this method accepts
     * @param configKeys every {@code adapter_config.json} key {@code reader} reads
     * @param reader reads a config from JSON
     * @param injector attaches an adapter with a config
     */
    protected AbstractPeftMethod(
            String peftType,
            String displayName,
            Class<C> configType,
            Set<String> configKeys,
            ConfigReader<? extends C> reader,
            Injector<? super C> injector) {
        this.peftType = peftType;
        this.displayName = displayName;
        this.configType = configType;
        this.configKeys = Set.copyOf(configKeys);
        this.reader = reader;
        this.injector = injector;
    }

    /**
     * A method of {@code peftType} that tools cannot set keys of: its display name is the {@code
     * peft_type} and it declares no {@link #configKeys}, so every {@code key=value} override is
     * refused.
     *
     * @param peftType the {@code peft_type} id, e.g. {@code LORA}
     * @param configType the config class this method accepts
     * @param reader reads a config from JSON
     * @param injector attaches an adapter with a config
     */
    protected AbstractPeftMethod(
            String peftType,
            Class<C> configType,
            ConfigReader<? extends C> reader,
            Injector<? super C> injector) {
        this(peftType, peftType, configType, Set.of(), reader, injector);
    }

    @Override
    public final String peftType() {
        return peftType;
    }

    @Override
    public final String displayName() {
        return displayName;
    }

    @Override
    public final Set<String> configKeys() {
        return configKeys;
    }

    @Override
    public final Class<? extends AdapterConfig> configType() {
        return configType;
    }

    @Override
    public final AdapterConfig parseConfig(JsonObject json, Consumer<String> warnings) {
        return reader.read(json, warnings);
    }

    @Override
    @SuppressWarnings("unchecked")
    public final Adapter attach(AdapterContext context, AdapterConfig config, String name) {
        // An unchecked cast, not configType.cast: a config of another type fails as a plain cast
        // to the method's config type did before, with the same ClassCastException.
        return injector.inject(context, (C) config, name);
    }

    /**
     * {@code json} without {@code keys}: for an {@link #optionsJson} override that drops the common
     * keys its method does not read (e.g. {@code r} for a method without a rank).
     *
     * @param json the object, changed in place
     * @param keys the keys to remove
     * @return {@code json}
     */
    protected static JsonObject without(JsonObject json, String... keys) {
        for (String key : keys) {
            json.remove(key);
        }
        return json;
    }
}
