package io.peft4j.masa;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;

import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.target.TargetSpec;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
 * groups = G} each type's L layers are split into G runs of consecutive layers (sizes differing by
 * at most one), each with its own dictionary of S atoms.
 *
 * <p>Immutable; build with {@link #builder()}.
 */
public final class MasaConfig implements AdapterConfig {

    /** The {@code peft_type} of MASA adapters. */
    public static final String PEFT_TYPE = "MASA";

    /** The default targets: the four attention projections of LLaMA-style models. */
    public static final List<String> DEFAULT_TARGETS = List.of("q_proj", "k_proj", "v_proj", "o_proj");

    private static final Set<String> KNOWN = Set.of(
            "modules_to_save",
            "peft_type", "target_modules", "exclude_modules", "layers_to_transform", "layers_pattern",
            "num_atoms", "num_groups", "mode", "base_model_name_or_path", "inference_mode", "task_type");

    private final TargetSpec targets;
    private final int atoms;
    private final int groups;
    private final MasaMode mode;

    private final List<String> modulesToSave;

    private MasaConfig(Builder b) {
        this.modulesToSave = List.copyOf(b.modulesToSave);
        this.targets = b.targets.build();
        this.atoms = b.atoms;
        this.groups = b.groups;
        this.mode = b.mode;
    }

    /** A builder: targets {@link #DEFAULT_TARGETS} unless set; atoms must be set. */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public String peftType() {
        return PEFT_TYPE;
    }

    /** Which modules carry the adapter. */
    public TargetSpec targets() {
        return targets;
    }

    /** S: atoms per dictionary. */
    public int atoms() {
        return atoms;
    }

    /** G: dictionaries per projection type (consecutive layer groups). */
    public int groups() {
        return groups;
    }

    /** What trains. */
    public MasaMode mode() {
        return mode;
    }

    /** Modules trained in full next to the adapter (peft's {@code modules_to_save}), e.g. a classifier. */
    @Override
    public List<String> modulesToSave() {
        return modulesToSave;
    }

    @Override
    public JsonObject toJson() {
        JsonObject j = new JsonObject();
        j.addProperty("peft_type", PEFT_TYPE);
        j.add("target_modules", targets.targetRegex().isPresent()
                ? new JsonPrimitive(targets.targetRegex().get()) : list(targets.targetNames()));
        j.add("exclude_modules", targets.excludeRegex().isPresent()
                ? new JsonPrimitive(targets.excludeRegex().get())
                : targets.excludeNames().isEmpty() ? JsonNull.INSTANCE : list(targets.excludeNames()));
        if (targets.layersToTransform().isEmpty()) {
            j.add("layers_to_transform", JsonNull.INSTANCE);
        } else {
            JsonArray a = new JsonArray();
            targets.layersToTransform().stream().sorted().forEach(a::add);
            j.add("layers_to_transform", a);
        }
        j.add("layers_pattern", targets.layersPattern().isEmpty() ? JsonNull.INSTANCE : list(targets.layersPattern()));
        j.addProperty("num_atoms", atoms);
        j.addProperty("num_groups", groups);
        j.addProperty("mode", mode.name());
        if (!modulesToSave.isEmpty()) {
            JsonArray saved = new JsonArray();
            modulesToSave.forEach(saved::add);
            j.add("modules_to_save", saved);
        }
        return j;
    }

    /**
     * Reads {@code adapter_config.json}. Unknown keys go to {@code warnings}; {@code num_atoms} is
     * required.
     *
     * @throws IllegalArgumentException naming a missing key or a bad value
     */
    public static MasaConfig fromJson(JsonObject j, Consumer<String> warnings) {
        Builder b = builder();
        if (!has(j, "num_atoms")) {
            throw new IllegalArgumentException("MASA config is missing required key \"num_atoms\" (S, atoms per dictionary)");
        }
        b.atoms(j.get("num_atoms").getAsInt());
        if (has(j, "num_groups")) {
            b.groups(j.get("num_groups").getAsInt());
        }
        if (has(j, "mode")) {
            String m = j.get("mode").getAsString();
            try {
                b.mode(MasaMode.valueOf(m.toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("MASA \"mode\": \"" + m + "\" is not one of " + List.of(MasaMode.values()), e);
            }
        }
        if (has(j, "target_modules")) {
            JsonElement t = j.get("target_modules");
            if (t.isJsonArray()) {
                b.targets(strings(t.getAsJsonArray()));
            } else {
                b.targetRegex(t.getAsString());
            }
        }
        if (has(j, "exclude_modules")) {
            JsonElement e = j.get("exclude_modules");
            if (e.isJsonArray()) {
                b.exclude(strings(e.getAsJsonArray()));
            } else {
                b.excludeRegex(e.getAsString());
            }
        }
        if (has(j, "layers_to_transform")) {
            JsonElement l = j.get("layers_to_transform");
            List<Integer> layers = new ArrayList<>();
            if (l.isJsonArray()) {
                l.getAsJsonArray().forEach(x -> layers.add(x.getAsInt()));
            } else {
                layers.add(l.getAsInt());
            }
            b.layersToTransform(layers);
        }
        if (has(j, "layers_pattern")) {
            JsonElement p = j.get("layers_pattern");
            b.layersPattern(p.isJsonArray() ? strings(p.getAsJsonArray()) : List.of(p.getAsString()));
        }
        for (Map.Entry<String, JsonElement> e : j.entrySet()) {
            if (!KNOWN.contains(e.getKey())) {
                warnings.accept("unknown MASA config key \"" + e.getKey() + "\" ignored");
            }
        }
        if (j.has("modules_to_save") && !j.get("modules_to_save").isJsonNull()) {
            List<String> saved = new ArrayList<>();
            j.getAsJsonArray("modules_to_save").forEach(e -> saved.add(e.getAsString()));
            b.modulesToSave(saved);
        }
        return b.build();
    }

    private static boolean has(JsonObject j, String key) {
        return j.has(key) && !j.get(key).isJsonNull();
    }

    private static List<String> strings(JsonArray a) {
        List<String> r = new ArrayList<>();
        a.forEach(x -> r.add(x.getAsString()));
        return r;
    }

    private static JsonArray list(Collection<String> values) {
        JsonArray a = new JsonArray();
        values.forEach(a::add);
        return a;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof MasaConfig)) {
            return false;
        }
        MasaConfig c = (MasaConfig) o;
        return atoms == c.atoms && groups == c.groups && mode == c.mode && targets.equals(c.targets);
    }

    @Override
    public int hashCode() {
        return Objects.hash(targets, atoms, groups, mode);
    }

    @Override
    public String toString() {
        return "MasaConfig" + toJson();
    }

    /** Builder of {@link MasaConfig}. */
    public static final class Builder {
        private final TargetSpec.Builder targets = TargetSpec.builder();
        private boolean targetsSet;
        private int atoms = -1;
        private int groups = 1;
        private MasaMode mode = MasaMode.COEFFICIENTS;

        private List<String> modulesToSave = List.of();

        private Builder() {}

        /** Modules trained in full next to the adapter and saved with it (e.g. {@code classifier}). */
        public Builder modulesToSave(List<String> names) {
            this.modulesToSave = List.copyOf(names);
            return this;
        }

        /** Target modules by name (exact path or {@code .name} suffix). */
        public Builder targets(String... names) {
            return targets(List.of(names));
        }

        /** Target modules by name (exact path or {@code .name} suffix). */
        public Builder targets(List<String> names) {
            targets.targets(names);
            targetsSet = true;
            return this;
        }

        /** One regex every target path fully matches. */
        public Builder targetRegex(String regex) {
            targets.targetRegex(regex);
            targetsSet = true;
            return this;
        }

        /** Names excluded from the targets. */
        public Builder exclude(List<String> names) {
            targets.exclude(names);
            return this;
        }

        /** A regex of paths excluded (full match). */
        public Builder excludeRegex(String regex) {
            targets.excludeRegex(regex);
            return this;
        }

        /** Only these layer indices take part (the dictionaries are built from them alone). */
        public Builder layersToTransform(Collection<Integer> layers) {
            targets.layersToTransform(layers);
            return this;
        }

        /** Names of the layer-list module (e.g. {@code layers}). */
        public Builder layersPattern(List<String> names) {
            targets.layersPattern(names);
            return this;
        }

        /** S, atoms per dictionary: at least 1 and at most the layers in the smallest group. */
        public Builder atoms(int atoms) {
            if (atoms < 1) {
                throw new IllegalArgumentException("num_atoms (S) must be >= 1, got " + atoms);
            }
            this.atoms = atoms;
            return this;
        }

        /** G, consecutive-layer groups per projection type, each with its own dictionary (default 1). */
        public Builder groups(int groups) {
            if (groups < 1) {
                throw new IllegalArgumentException("num_groups must be >= 1, got " + groups);
            }
            this.groups = groups;
            return this;
        }

        /** What trains (default {@link MasaMode#COEFFICIENTS}). */
        public Builder mode(MasaMode mode) {
            this.mode = Objects.requireNonNull(mode, "mode");
            return this;
        }

        /** Builds the config. */
        public MasaConfig build() {
            if (atoms < 1) {
                throw new IllegalArgumentException("num_atoms (S) must be set (>= 1); e.g. L/3 for 66.7% fewer attention parameters");
            }
            if (!targetsSet) {
                targets.targets(DEFAULT_TARGETS);
            }
            return new MasaConfig(this);
        }
    }
}
