package io.peft4j.core.spi;

import io.peft4j.core.config.ConfigKey;
import io.peft4j.core.config.ConfigValues;
import io.peft4j.core.target.TargetSpec;
import java.util.Collection;
import java.util.List;
import java.util.function.Consumer;

/**
 * The setters every targeted method's config builder shares: which modules get the adapter (a
 * {@link TargetSpec} built here) and the Hugging Face peft fields that are not the method's own
 * ({@code modules_to_save}, {@code task_type}, {@code base_model_name_or_path}). A method's builder
 * extends it and adds its own setters; {@link TargetedConfig}'s constructor reads the result.
 *
 * <p>Self-typed so that every setter returns the method's builder and calls chain in any order:
 *
 * <pre>{@code
 * public static final class Builder extends TargetedConfigBuilder<Builder> { ... }
 * LoraConfig.builder().rank(8).targets("q_proj").alpha(16).build();
 * }</pre>
 *
 * <p>Argument checks are {@link TargetSpec.Builder}'s, so every method reports a bad target the
 * same way.
 *
 * @param <B> the method's builder type
 */
public abstract class TargetedConfigBuilder<B extends TargetedConfigBuilder<B>> {

    // Package-private: TargetedConfig's constructor reads them (same package, no public getters).
    TargetSpec.Builder targets = TargetSpec.builder();
    boolean targetsSet;
    List<String> modulesToSave = List.of();
    String taskType;
    String baseModelNameOrPath;
    // the method's own values (TargetedConfig keeps them; ConfigJson.read fills them from a file)
    final ConfigValues.Builder own;
    private final Consumer<TargetSpec.Builder> defaultTargets;

    /**
     * A builder with no default targets and no own values: {@code build()} fails unless targets are
     * set.
     */
    protected TargetedConfigBuilder() {
        this(t -> {});
    }

    /**
     * A builder holding the method's own values, starting from {@code defaults}, with no default
     * targets.
     *
     * @param defaults the method's own settings at their defaults
     */
    protected TargetedConfigBuilder(ConfigValues defaults) {
        this(defaults, t -> {});
    }

    /**
     * A builder whose targets, unless set, are what {@code defaultTargets} puts in the spec builder
     * (e.g. {@code TargetSpec.Builder::allLinear}). Applied when the config is built, so exclusions
     * and layer settings given earlier still hold.
     *
     * @param defaultTargets sets the default targets on a spec builder
     */
    protected TargetedConfigBuilder(Consumer<TargetSpec.Builder> defaultTargets) {
        this(ConfigValues.defaults(), defaultTargets);
    }

    /**
     * A builder holding the method's own values, starting from {@code defaults}, whose targets,
     * unless set, are what {@code defaultTargets} puts in the spec builder.
     *
     * @param defaults the method's own settings at their defaults
     * @param defaultTargets sets the default targets on a spec builder
     */
    protected TargetedConfigBuilder(
            ConfigValues defaults, Consumer<TargetSpec.Builder> defaultTargets) {
        this.own = defaults.toBuilder();
        this.defaultTargets = defaultTargets;
    }

    /**
     * A builder holding {@code config}'s common settings and own values (for a config's {@code
     * toBuilder}).
     *
     * @param config the config to copy
     */
    protected TargetedConfigBuilder(TargetedConfig config) {
        this(config.ownValues());
        this.targets = config.targets().toBuilder();
        this.targetsSet = true;
        this.modulesToSave = config.modulesToSave();
        this.taskType = config.taskType();
        this.baseModelNameOrPath = config.baseModelNameOrPath();
    }

    /**
     * Target names (exact path or {@code .name} suffix).
     *
     * @param names the target names
     * @return this builder
     */
    public B targets(String... names) {
        return targets(List.of(names));
    }

    /**
     * Target names (exact path or {@code .name} suffix).
     *
     * @param names the target names
     * @return this builder
     */
    public B targets(Collection<String> names) {
        return targetsBy(t -> t.targets(names));
    }

    /**
     * A regex every target path fully matches, or {@value TargetSpec#ALL_LINEAR}.
     *
     * @param regex the regex
     * @return this builder
     */
    public B targetRegex(String regex) {
        return targetsBy(t -> t.targetRegex(regex));
    }

    /**
     * Every linear layer but the output head.
     *
     * @return this builder
     */
    public B allLinear() {
        return targetRegex(TargetSpec.ALL_LINEAR);
    }

    /**
     * Names excluded from the targets (same rule as targets).
     *
     * @param names the excluded names
     * @return this builder
     */
    public B exclude(Collection<String> names) {
        return spec(t -> t.exclude(names));
    }

    /**
     * A regex of paths excluded from the targets (full match).
     *
     * @param regex the regex
     * @return this builder
     */
    public B excludeRegex(String regex) {
        return spec(t -> t.excludeRegex(regex));
    }

    /**
     * Only modules inside these layer indices.
     *
     * @param layers the layer indices
     * @return this builder
     */
    public B layersToTransform(Collection<Integer> layers) {
        return spec(t -> t.layersToTransform(layers));
    }

    /**
     * The layer list's module name(s), e.g. {@code layers}.
     *
     * @param names the module names
     * @return this builder
     */
    public B layersPattern(Collection<String> names) {
        return spec(t -> t.layersPattern(names));
    }

    /**
     * Modules trained in full next to the adapter and saved with it (e.g. {@code classifier}).
     *
     * @param names the module names
     * @return this builder
     */
    public B modulesToSave(Collection<String> names) {
        this.modulesToSave = List.copyOf(names);
        return self();
    }

    /**
     * peft's {@code task_type} (e.g. {@code CAUSAL_LM}, {@code SEQ_CLS}).
     *
     * @param taskType the task type
     * @return this builder
     */
    public B taskType(String taskType) {
        this.taskType = taskType;
        return self();
    }

    /**
     * {@code base_model_name_or_path}.
     *
     * @param name the base model's name or path
     * @return this builder
     */
    public B baseModelNameOrPath(String name) {
        this.baseModelNameOrPath = name;
        return self();
    }

    /**
     * Sets one of the method's own values, after the key's checks.
     *
     * @param <T> the value's type
     * @param key the setting (one of the defaults' keys)
     * @param value the value
     * @return this builder
     * @throws IllegalArgumentException with the failed check's message
     */
    protected final <T> B set(ConfigKey<T> key, T value) {
        own.set(key, value);
        return self();
    }

    /**
     * One of the method's own values as set so far (its default if not set).
     *
     * @param <T> the value's type
     * @param key the setting
     * @return the value
     */
    protected final <T> T get(ConfigKey<T> key) {
        return own.get(key);
    }

    /** The target spec, with the default targets when none were set. */
    TargetSpec buildTargets() {
        if (!targetsSet) {
            defaultTargets.accept(targets);
        }
        return targets.build();
    }

    /** Applies {@code change} to the target spec builder (which checks the values). */
    private B spec(Consumer<TargetSpec.Builder> change) {
        change.accept(targets);
        return self();
    }

    /** As {@link #spec}, for a change that sets the targets: the default no longer applies. */
    private B targetsBy(Consumer<TargetSpec.Builder> change) {
        spec(change);
        targetsSet = true;
        return self();
    }

    @SuppressWarnings("unchecked")
    private B self() {
        // Safe as long as the subclass declares itself as B, which the type bound asks for.
        return (B) this;
    }
}
