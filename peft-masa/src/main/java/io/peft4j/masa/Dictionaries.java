package io.peft4j.masa;

import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.tree.ModuleNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits target modules into dictionaries: one per projection type (the path with its layer number
 * taken out) and consecutive-layer group.
 */
final class Dictionaries {

    private static final Pattern LAYER = Pattern.compile("(^|\\.)(\\d+)(?=\\.|$)");

    private Dictionaries() {}

    /**
     * One dictionary's layers.
     *
     * @param key the file-key stem, e.g. {@code model.layers.0-2.self_attn.q_proj}
     * @param type the projection type, e.g. {@code model.layers.*.self_attn.q_proj}
     * @param nodes the member modules, in layer order
     */
    record Group(String key, String type, List<ModuleNode> nodes) {}

    /** The projection type of a path: its first all-digit segment replaced by {@code *}. */
    static String typeOf(String path) {
        Matcher m = LAYER.matcher(path);
        return m.find() ? path.substring(0, m.start(2)) + "*" + path.substring(m.end(2)) : path;
    }

    private static String layerLabel(String path) {
        Matcher m = LAYER.matcher(path);
        return m.find() ? m.group(2) : null;
    }

    /**
     * Groups {@code targets} (in tree order) into dictionaries.
     *
     * @throws IllegalArgumentException when a type has fewer layers than groups or a number of
     *     layers the groups do not divide, when a group has fewer layers than atoms, or when one
     *     type mixes weight shapes
     */
    static List<Group> of(List<ModuleNode> targets, int groups, int atoms) {
        Map<String, List<ModuleNode>> byType = new LinkedHashMap<>();
        for (ModuleNode n : targets) {
            byType.computeIfAbsent(typeOf(n.path()), k -> new ArrayList<>()).add(n);
        }
        List<Group> result = new ArrayList<>();
        for (Map.Entry<String, List<ModuleNode>> e : byType.entrySet()) {
            List<ModuleNode> nodes = e.getValue();
            int l = nodes.size();
            if (groups > l) {
                throw new IllegalArgumentException(
                        "num_groups "
                                + groups
                                + " exceeds the "
                                + l
                                + " layer(s) of projection type '"
                                + e.getKey()
                                + "'");
            }
            if (l % groups != 0) {
                // the paper's groups are runs of equally many consecutive layers
                throw new IllegalArgumentException(
                        "num_groups "
                                + groups
                                + " does not divide the "
                                + l
                                + " layers of projection type '"
                                + e.getKey()
                                + "' (groups are equal runs of consecutive layers); use a divisor of "
                                + l);
            }
            var shape = weightOf(nodes.get(0).block()).getArray().getShape();
            for (ModuleNode n : nodes) {
                var s = weightOf(n.block()).getArray().getShape();
                if (!s.equals(shape)) {
                    throw new IllegalArgumentException(
                            "projection type '"
                                    + e.getKey()
                                    + "' mixes weight shapes: '"
                                    + nodes.get(0).path()
                                    + "' is "
                                    + shape
                                    + " but '"
                                    + n.path()
                                    + "' is "
                                    + s
                                    + "; one dictionary needs one shape (narrow target_modules)");
                }
            }
            for (int g = 0; g < groups; g++) {
                int from = g * l / groups;
                int to = (g + 1) * l / groups;
                List<ModuleNode> members = List.copyOf(nodes.subList(from, to));
                if (atoms > members.size()) {
                    throw new IllegalArgumentException(
                            "num_atoms "
                                    + atoms
                                    + " exceeds the "
                                    + members.size()
                                    + " layer(s) in group "
                                    + g
                                    + " of projection type '"
                                    + e.getKey()
                                    + "' (S must be at most the layers sharing a dictionary)");
                }
                String first = layerLabel(members.get(0).path());
                String last = layerLabel(members.get(members.size() - 1).path());
                String key =
                        first == null
                                ? e.getKey()
                                : e.getKey()
                                        .replace(
                                                "*",
                                                first.equals(last) ? first : first + "-" + last);
                result.add(new Group(key, e.getKey(), members));
            }
        }
        return result;
    }

    /** The weight of a target: a {@link Linear}'s {@code weight}. */
    static Parameter weightOf(Block block) {
        Block b = block instanceof MasaLinear ? ((MasaLinear) block).baseLayer() : block;
        Parameter p =
                b.getDirectParameters().contains("weight")
                        ? b.getDirectParameters().get("weight")
                        : null;
        if (p == null || !p.isInitialized() || p.getArray().getShape().dimension() != 2) {
            throw new IllegalArgumentException(
                    "MASA target " + b.getClass().getName() + " has no initialized 2-D weight");
        }
        return p;
    }
}
