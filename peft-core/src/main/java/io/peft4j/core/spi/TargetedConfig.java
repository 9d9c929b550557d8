package io.peft4j.core.spi;

import com.google.gson.JsonObject;
import io.peft4j.core.config.ConfigKey;
import io.peft4j.core.config.ConfigValues;
import io.peft4j.core.target.TargetSpec;
import java.util.List;

/**
 * A config whose adapter goes into chosen modules of the model: the part of it that is not the
 * method's own. It holds the {@link TargetSpec} and peft's {@code modules_to_save}, {@code
 * task_type} and {@code base_model_name_or_path}, as set on a {@link TargetedConfigBuilder}, and
 * the method's own values (its {@link ConfigKey settings}); the method's config adds their getters
 * and its {@code toJson}, which is also its value ({@link JsonValueConfig}).
 */
public abstract class TargetedConfig extends JsonValueConfig {

    private final String peftType;
    private final TargetSpec targets;
    private final List<String> modulesToSave;
    private final String taskType;
    private final String baseModelNameOrPath;
    private final ConfigValues own;

    /**
     * Takes the common settings and the method's values from {@code b}, applying its default
     * targets if none were set. The subclass overrides {@link #peftType()}.
     *
     * @param b the builder
     * @throws IllegalStateException if no targets were set and the builder has no default
     */
    protected TargetedConfig(TargetedConfigBuilder<?> b) {
        this(null, b);
    }

    /**
     * As {@link #TargetedConfig(TargetedConfigBuilder)}, for a method whose {@link #peftType()} is
     * {@code peftType}.
     *
     * @param peftType the method's {@code peft_type}
     * @param b the builder
     * @throws IllegalStateException if no targets were set and the builder has no default
     */
    protected TargetedConfig(String peftType, TargetedConfigBuilder<?> b) {
        this.peftType = peftType;
        this.targets = b.buildTargets();
        this.modulesToSave = b.modulesToSave;
        this.taskType = b.taskType;
        this.baseModelNameOrPath = b.baseModelNameOrPath;
        this.own = b.own.build();
    }

    /**
     * One of the method's own values.
     *
     * @param <T> the value's type
     * @param key the setting
     * @return its value
     */
    protected final <T> T value(ConfigKey<T> key) {
        return own.get(key);
    }

    /** The method's own values (for a builder copying this config). */
    final ConfigValues ownValues() {
        return own;
    }

    /**
     * Adds the method's own values to {@code j}, each under its key, in declared order.
     *
     * @param j the object to add to
     */
    protected final void writeOwnValues(JsonObject j) {
        own.writeTo(j);
    }

    /**
     * The {@code peft_type} given to the constructor; a subclass built without one overrides this.
     *
     * @return the {@code peft_type} id
     */
    @Override
    public String peftType() {
        return peftType;
    }

    /** {@return which modules get an adapter} */
    public final TargetSpec targets() {
        return targets;
    }

    /**
     * Modules trained in full next to the adapter (peft's {@code modules_to_save}), e.g. a
     * classifier.
     */
    @Override
    public final List<String> modulesToSave() {
        return modulesToSave;
    }

    /** {@return peft's {@code task_type}, or {@code null}} */
    public final String taskType() {
        return taskType;
    }

    /** {@return {@code base_model_name_or_path}, or {@code null}} */
    public final String baseModelNameOrPath() {
        return baseModelNameOrPath;
    }

    /**
     * The method's own values and {@code more} (keys the method writes itself) plus {@code
     * peft_type}, the target keys ({@link ConfigJson#writeTargets}), {@code task_type}, {@code
     * base_model_name_or_path} (null when unset) and {@code inference_mode} false, in a new object
     * with the keys sorted, as peft's {@code save_pretrained} writes them. {@code modules_to_save}
     * is the caller's: methods write it differently.
     *
     * @param more the keys the method writes itself
     * @return the sorted config object
     */
    protected final JsonObject sortedJson(JsonObject more) {
        JsonObject j = more.deepCopy();
        own.writeTo(j);
        j.addProperty("peft_type", peftType());
        ConfigJson.writeTargets(j, targets);
        j.add("task_type", ConfigJson.stringOrNull(taskType));
        j.add("base_model_name_or_path", ConfigJson.stringOrNull(baseModelNameOrPath));
        j.addProperty("inference_mode", false);
        return ConfigJson.sortedKeys(j);
    }
}
