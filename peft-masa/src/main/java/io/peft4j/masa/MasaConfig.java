package io.peft4j.masa;

import static io.peft4j.core.spi.ConfigJson.has;

import com.google.gson.JsonObject;
import io.peft4j.core.config.ConfigKey;
import io.peft4j.core.config.ConfigValues;
import io.peft4j.core.spi.ConfigJson;
import io.peft4j.core.spi.TargetedConfig;
import io.peft4j.core.spi.TargetedConfigBuilder;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Configuration of a MASA adapter (matrix atom sharing, used for fine-tuning): which linear
 * modules, how many atoms per dictionary, how many consecutive-layer groups, and what trains.
 *
 * <p>Targets are grouped into <em>projection types</em> by their path with the layer number taken
 * out ({@code model.layers.3.self_attn.q_proj} belongs to {@code model.layers.*.self_attn.q_proj}),
 * so every Q projection shares one dictionary, every K projection another, and so on. With {@code
 * groups = G} each type's L layers are split into G equal runs of consecutive layers (G must divide
 * L), each with its own dictionary of S atoms (S at most L / G).
 *
 * <p>Immutable; build with {@link #builder()}.
 */
public final class MasaConfig extends TargetedConfig {

    /** The {@code peft_type} of MASA adapters. */
    public static final String PEFT_TYPE = "MASA";

    /** The default targets: the four attention projections of LLaMA-style models. */
    public static final List<String> DEFAULT_TARGETS =
            List.of("q_proj", "k_proj", "v_proj", "o_proj");

    // The method's own settings, each declared once: JSON key, default, check. num_atoms has no
    // usable default: build() refuses a config without it.
    private static final ConfigKey<Integer> ATOMS =
            ConfigKey.ofInt("num_atoms", -1)
                    .check(s -> s >= 1, "num_atoms (S) must be >= 1, got %s");
    private static final ConfigKey<Integer> GROUPS =
            ConfigKey.ofInt("num_groups", 1).check(g -> g >= 1, "num_groups must be >= 1, got %s");
    private static final ConfigKey<MasaMode> MODE =
            ConfigKey.ofText("mode", MasaMode.COEFFICIENTS, MasaConfig::mode, MasaMode::name);

    private static final ConfigValues DEFAULTS = ConfigValues.defaults(ATOMS, GROUPS, MODE);

    // package-private: the method entry offers these keys to tools (--set)
    static final Set<String> KNOWN = ConfigJson.targetedKeys(DEFAULTS.jsonKeys());

    private MasaConfig(Builder b) {
        super(PEFT_TYPE, b);
    }

    /** {@return a builder: targets {@link #DEFAULT_TARGETS} unless set; atoms must be set} */
    public static Builder builder() {
        return new Builder();
    }

    /** {@return S: atoms per dictionary} */
    public int atoms() {
        return value(ATOMS);
    }

    /** {@return G: dictionaries per projection type (consecutive layer groups)} */
    public int groups() {
        return value(GROUPS);
    }

    /** {@return what trains} */
    public MasaMode mode() {
        return value(MODE);
    }

    @Override
    public JsonObject toJson() {
        JsonObject j = new JsonObject();
        j.addProperty("peft_type", PEFT_TYPE);
        ConfigJson.writeTargets(j, targets());
        writeOwnValues(j);
        ConfigJson.writeModulesToSave(j, modulesToSave());
        // Only when set: MASA used to drop both keys, and a config without them must write the same
        // file as then.
        if (taskType() != null) {
            j.addProperty("task_type", taskType());
        }
        if (baseModelNameOrPath() != null) {
            j.addProperty("base_model_name_or_path", baseModelNameOrPath());
        }
        return j;
    }

    /**
     * Reads {@code adapter_config.json}. Unknown keys go to {@code warnings}; {@code num_atoms} is
     * required.
     *
     * @param j the parsed {@code adapter_config.json}
     * @param warnings receives one message per ignored key
     * @return the config
     * @throws IllegalArgumentException naming a missing key or a bad value
     */
    public static MasaConfig fromJson(JsonObject j, Consumer<String> warnings) {
        Builder b = builder();
        if (!has(j, "num_atoms")) {
            throw new IllegalArgumentException(
                    "MASA config is missing required key \"num_atoms\" (S, atoms per dictionary)");
        }
        ConfigJson.read(j, b);
        ConfigJson.warnUnknown(j, KNOWN, "MASA", warnings);
        return b.build();
    }

    private static MasaMode mode(String m) {
        try {
            return MasaMode.valueOf(m.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "MASA \"mode\": \"" + m + "\" is not one of " + List.of(MasaMode.values()), e);
        }
    }

    /** Builder of {@link MasaConfig}. */
    public static final class Builder extends TargetedConfigBuilder<Builder> {
        private Builder() {
            super(DEFAULTS, t -> t.targets(DEFAULT_TARGETS));
        }

        /**
         * S, atoms per dictionary: at least 1 and at most the layers in the smallest group.
         *
         * @param atoms S, atoms per dictionary: at least 1 and at most the layers in the smallest
         *     group
         * @return this builder
         */
        public Builder atoms(int atoms) {
            return set(ATOMS, atoms);
        }

        /**
         * G, consecutive-layer groups per projection type, each with its own dictionary (default
         * 1).
         *
         * @param groups G, consecutive-layer groups per projection type, each with its own
         *     dictionary (default 1)
         * @return this builder
         */
        public Builder groups(int groups) {
            return set(GROUPS, groups);
        }

        /**
         * What trains (default {@link MasaMode#COEFFICIENTS}).
         *
         * @param mode what trains (default {@link MasaMode#COEFFICIENTS})
         * @return this builder
         */
        public Builder mode(MasaMode mode) {
            return set(MODE, Objects.requireNonNull(mode, "mode"));
        }

        /**
         * Builds the config.
         *
         * @return the config
         */
        public MasaConfig build() {
            if (get(ATOMS) < 1) {
                throw new IllegalArgumentException(
                        "num_atoms (S) must be set (>= 1); e.g. L/3 for 66.7 percent fewer attention parameters");
            }
            return new MasaConfig(this);
        }
    }
}
