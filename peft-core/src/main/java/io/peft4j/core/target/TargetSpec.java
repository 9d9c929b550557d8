package io.peft4j.core.target;

import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableSet;
import io.peft4j.core.tree.AdapterWrapper;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import io.peft4j.core.tree.PathSuggestions;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which modules of a model an adapter goes into, with Hugging Face peft's rules.
 *
 * <ul>
 *   <li>{@code target_modules} as a list: a path matches a name when it equals it or ends with
 *       {@code "." + name};
 *   <li>as one regex: the whole path must match;
 *   <li>{@code all-linear}: every {@link Linear} except the output head ({@code lm_head}, {@code
 *       classifier}, {@code score} and any name in {@link #outputHeads()});
 *   <li>{@code exclude_modules}: a list or a regex, same rules, applied after;
 *   <li>{@code layers_to_transform}: only modules inside the listed layer indices, the index being
 *       the number after {@code layers_pattern} (or after any segment when no pattern is given).
 * </ul>
 */
public final class TargetSpec {

    /** The {@code target_modules} value that selects every linear layer but the output head. */
    public static final String ALL_LINEAR = "all-linear";

    private static final Set<String> DEFAULT_HEADS =
            ImmutableSet.of("lm_head", "classifier", "score");

    private final ImmutableList<String> targetNames;
    private final String targetRegex;
    private final ImmutableList<String> excludeNames;
    private final String excludeRegex;
    private final ImmutableSet<Integer> layersToTransform;
    private final ImmutableList<String> layersPattern;
    private final ImmutableSet<String> outputHeads;

    private TargetSpec(Builder b) {
        this.targetNames = ImmutableList.copyOf(b.targetNames);
        this.targetRegex = b.targetRegex;
        this.excludeNames = ImmutableList.copyOf(b.excludeNames);
        this.excludeRegex = b.excludeRegex;
        this.layersToTransform = ImmutableSet.copyOf(b.layersToTransform);
        this.layersPattern = ImmutableList.copyOf(b.layersPattern);
        this.outputHeads = ImmutableSet.copyOf(b.outputHeads);
    }

    /** {@return a new builder} */
    public static Builder builder() {
        return new Builder();
    }

    /** {@return a builder holding this spec's values (for configs' {@code toBuilder})} */
    public Builder toBuilder() {
        Builder b = builder();
        if (targetRegex != null) {
            b.targetRegex(targetRegex);
        } else {
            b.targets(targetNames);
        }
        b.exclude(excludeNames).excludeRegex(excludeRegex);
        b.layersToTransform(layersToTransform).layersPattern(layersPattern);
        b.outputHeads(outputHeads);
        return b;
    }

    /** {@return target names (empty when a regex or {@code all-linear} is used)} */
    public List<String> targetNames() {
        return targetNames;
    }

    /** {@return target regex, if {@code target_modules} was one string} */
    public Optional<String> targetRegex() {
        return Optional.ofNullable(targetRegex);
    }

    /** {@return whether this spec is {@code all-linear}} */
    public boolean isAllLinear() {
        return ALL_LINEAR.equals(targetRegex);
    }

    /** {@return excluded names} */
    public List<String> excludeNames() {
        return excludeNames;
    }

    /** {@return exclude regex, if one was given} */
    public Optional<String> excludeRegex() {
        return Optional.ofNullable(excludeRegex);
    }

    /** {@return layer indices to transform; empty means all} */
    public Set<Integer> layersToTransform() {
        return layersToTransform;
    }

    /**
     * {@return names of the layer-list modules ({@code layers}, {@code h}, ...); empty means any}
     */
    public List<String> layersPattern() {
        return layersPattern;
    }

    /** {@return extra leaf names treated as output heads by {@code all-linear}} */
    public Set<String> outputHeads() {
        return outputHeads;
    }

    /**
     * Whether the module at {@code path} (of the given block) is a target.
     *
     * @param path the module's path
     * @param block the module's block
     * @return whether it is a target
     */
    public boolean matches(String path, Block block) {
        if (path.isEmpty()) {
            return false;
        }
        boolean targeted;
        if (isAllLinear()) {
            targeted = isLinear(block) && !isOutputHead(path);
        } else if (targetRegex != null) {
            targeted = Pattern.compile(targetRegex).matcher(path).matches();
        } else {
            targeted = matchesName(path, targetNames);
        }
        if (!targeted) {
            return false;
        }
        if (excludeRegex != null && Pattern.compile(excludeRegex).matcher(path).matches()) {
            return false;
        }
        if (matchesName(path, excludeNames)) {
            return false;
        }
        if (!layersToTransform.isEmpty()) {
            Optional<Integer> layer = layerIndex(path);
            return layer.isPresent() && layersToTransform.contains(layer.get());
        }
        return true;
    }

    /**
     * The modules of {@code tree} this spec selects, in tree order.
     *
     * @param tree the model's modules
     * @return the selected modules
     * @throws IllegalArgumentException naming the spec and the closest existing paths if nothing
     *     matches
     */
    public List<ModuleNode> select(ModuleTree tree) {
        List<ModuleNode> selected = new ArrayList<>();
        for (ModuleNode node : tree.nodes()) {
            if (matches(node.path(), node.block())) {
                selected.add(node);
            }
        }
        if (selected.isEmpty()) {
            List<String> wanted = targetNames.isEmpty() ? List.of(describeTargets()) : targetNames;
            throw new IllegalArgumentException(
                    "Target modules "
                            + describeTargets()
                            + (excludeNames.isEmpty() && excludeRegex == null
                                    ? ""
                                    : " (excluding " + describeExcludes() + ")")
                            + (layersToTransform.isEmpty() ? "" : " in layers " + layersToTransform)
                            + " matched no module of the model. Closest existing paths: "
                            + PathSuggestions.closest(wanted, tree.paths(), 8)
                            + symbolBlockNote(tree));
        }
        return selected;
    }

    /**
     * What to say when the tree holds traced graphs: their insides are not modules, so a target
     * inside one can never match.
     */
    private static String symbolBlockNote(ModuleTree tree) {
        List<String> graphs = new ArrayList<>();
        for (ModuleNode node : tree.nodes()) {
            if (node.block() instanceof ai.djl.nn.SymbolBlock) {
                graphs.add(node.path().isEmpty() ? "(root)" : node.path());
            }
        }
        return graphs.isEmpty()
                ? ""
                : ". "
                        + graphs
                        + (graphs.size() == 1 ? " is a" : " are")
                        + " traced / TorchScript graph (DJL SymbolBlock) with no modules to wrap: load the model from its"
                        + " Hugging Face checkpoint with peft4j, or build that part as a block tree in Java";
    }

    /** {@return the target spec as written in messages} */
    public String describeTargets() {
        return targetRegex != null ? "'" + targetRegex + "'" : targetNames.toString();
    }

    private String describeExcludes() {
        return excludeRegex != null ? "'" + excludeRegex + "'" : excludeNames.toString();
    }

    static boolean matchesName(String path, Collection<String> names) {
        for (String name : names) {
            if (path.equals(name) || path.endsWith("." + name)) {
                return true;
            }
        }
        return false;
    }

    private boolean isOutputHead(String path) {
        String leaf = path.substring(path.lastIndexOf('.') + 1);
        return DEFAULT_HEADS.contains(leaf)
                || outputHeads.contains(leaf)
                || outputHeads.contains(path);
    }

    private static boolean isLinear(Block block) {
        if (block instanceof AdapterWrapper) {
            return isLinear(((AdapterWrapper) block).baseLayer());
        }
        return block instanceof Linear;
    }

    /**
     * The layer index of a path: the number after a layers-pattern segment (the last one found).
     */
    Optional<Integer> layerIndex(String path) {
        String names = layersPattern.isEmpty() ? "[^.]+" : "(?:" + String.join("|", quoted()) + ")";
        Matcher m = Pattern.compile("^(?:.*\\.)?" + names + "\\.(\\d+)(?:\\.|$)").matcher(path);
        return m.find() ? Optional.of(Integer.parseInt(m.group(1))) : Optional.empty();
    }

    private List<String> quoted() {
        List<String> q = new ArrayList<>();
        layersPattern.forEach(p -> q.add(Pattern.quote(p)));
        return q;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof TargetSpec)) {
            return false;
        }
        TargetSpec t = (TargetSpec) o;
        return targetNames.equals(t.targetNames)
                && Objects.equals(targetRegex, t.targetRegex)
                && excludeNames.equals(t.excludeNames)
                && Objects.equals(excludeRegex, t.excludeRegex)
                && layersToTransform.equals(t.layersToTransform)
                && layersPattern.equals(t.layersPattern)
                && outputHeads.equals(t.outputHeads);
    }

    @Override
    public int hashCode() {
        return Objects.hash(
                targetNames, targetRegex, excludeNames, excludeRegex, layersToTransform);
    }

    @Override
    public String toString() {
        return "TargetSpec{targets="
                + describeTargets()
                + ", exclude="
                + describeExcludes()
                + ", layers="
                + layersToTransform
                + "}";
    }

    /** Builder of {@link TargetSpec}. */
    public static final class Builder {
        private List<String> targetNames = List.of();
        private String targetRegex;
        private List<String> excludeNames = List.of();
        private String excludeRegex;
        private Collection<Integer> layersToTransform = List.of();
        private List<String> layersPattern = List.of();
        private Collection<String> outputHeads = List.of();

        private Builder() {}

        /**
         * Targets by name (exact path or {@code .name} suffix).
         *
         * @param names the target names
         * @return this builder
         */
        public Builder targets(Collection<String> names) {
            Preconditions.checkArgument(!names.isEmpty(), "target_modules must not be empty");
            for (String n : names) {
                Preconditions.checkArgument(
                        n != null && !n.isBlank(), "target_modules holds a blank name: %s", names);
            }
            this.targetNames = List.copyOf(names);
            this.targetRegex = null;
            return this;
        }

        /**
         * Targets by name (exact path or {@code .name} suffix).
         *
         * @param names the target names
         * @return this builder
         */
        public Builder targets(String... names) {
            return targets(List.of(names));
        }

        /**
         * Targets as one regex that must match the whole path, or {@link #ALL_LINEAR}.
         *
         * @param regex the regex
         * @return this builder
         */
        public Builder targetRegex(String regex) {
            Preconditions.checkArgument(regex != null && !regex.isBlank(), "target regex is blank");
            if (!ALL_LINEAR.equals(regex)) {
                compile(regex, "target_modules");
            }
            this.targetRegex = regex;
            this.targetNames = List.of();
            return this;
        }

        /**
         * Every linear layer but the output head.
         *
         * @return this builder
         */
        public Builder allLinear() {
            return targetRegex(ALL_LINEAR);
        }

        /**
         * Names excluded (same rule as targets).
         *
         * @param names the excluded names
         * @return this builder
         */
        public Builder exclude(Collection<String> names) {
            this.excludeNames = List.copyOf(names);
            return this;
        }

        /**
         * A regex of paths excluded (full match).
         *
         * @param regex the regex
         * @return this builder
         */
        public Builder excludeRegex(String regex) {
            if (regex != null) {
                compile(regex, "exclude_modules");
            }
            this.excludeRegex = regex;
            return this;
        }

        /**
         * Only modules inside these layers.
         *
         * @param layers the layer indices
         * @return this builder
         */
        public Builder layersToTransform(Collection<Integer> layers) {
            for (Integer l : layers) {
                Preconditions.checkArgument(
                        l != null && l >= 0,
                        "layers_to_transform holds %s; expected indices >= 0",
                        l);
            }
            this.layersToTransform = List.copyOf(layers);
            return this;
        }

        /**
         * Names of the layer list module, e.g. {@code layers}.
         *
         * @param names the module names
         * @return this builder
         */
        public Builder layersPattern(Collection<String> names) {
            this.layersPattern = List.copyOf(names);
            return this;
        }

        /**
         * Leaf names (or full paths) that {@code all-linear} leaves out as output heads.
         *
         * @param names the leaf names or paths
         * @return this builder
         */
        public Builder outputHeads(Collection<String> names) {
            this.outputHeads = List.copyOf(names);
            return this;
        }

        /**
         * Builds the spec.
         *
         * @return the spec
         */
        public TargetSpec build() {
            Preconditions.checkState(
                    !targetNames.isEmpty() || targetRegex != null,
                    "no target modules given: set target names, a regex, or all-linear");
            return new TargetSpec(this);
        }

        private static void compile(String regex, String what) {
            try {
                Pattern.compile(regex);
            } catch (java.util.regex.PatternSyntaxException e) {
                throw new IllegalArgumentException(
                        what + " regex '" + regex + "' is not valid: " + e.getDescription(), e);
            }
        }
    }
}
