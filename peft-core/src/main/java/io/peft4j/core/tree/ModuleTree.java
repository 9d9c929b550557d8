package io.peft4j.core.tree;

import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.util.Pair;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A view of a DJL {@link Block} tree where every module has a dotted path, like PyTorch's {@code
 * named_modules()}.
 *
 * <p>Path segments come from DJL's child names without the {@code "%02d"} prefix that {@code
 * AbstractBlock.addChildBlock} adds (child {@code i} is stored as {@code String.format("%02d", i +
 * 1) + name}), so a model whose blocks register children under Hugging Face names has Hugging Face
 * paths ({@code model.layers.0.self_attn.q_proj}). Blocks held in fields but never registered as
 * children are found too, under the field's name. When two siblings would get the same segment (a
 * {@code SequentialBlock} of two {@code Linear}s), each keeps its position: {@code Linear_1},
 * {@code Linear_2}. Adapter wrappers are leaves: the tree does not descend into them.
 *
 * <p>The view is a snapshot: build a new one after the tree changes.
 */
public final class ModuleTree {

    private final Block root;
    private final Map<String, ModuleNode> nodesByPath;

    private ModuleTree(Block root, Map<String, ModuleNode> nodesByPath) {
        this.root = root;
        this.nodesByPath = nodesByPath;
    }

    /**
     * Builds the view of {@code root} and everything below it.
     *
     * @param root the root block
     * @return the tree
     */
    public static ModuleTree of(Block root) {
        Map<String, ModuleNode> nodes = new LinkedHashMap<>();
        Set<Block> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        ModuleNode rootNode = new ModuleNode("", root, null, null, null);
        visit(rootNode, nodes, seen);
        return new ModuleTree(root, Collections.unmodifiableMap(nodes));
    }

    private static void visit(ModuleNode node, Map<String, ModuleNode> nodes, Set<Block> seen) {
        if (!seen.add(node.block())) {
            return; // a block shared by two parents is listed once, under its first path
        }
        nodes.put(node.path(), node);
        if (node.block() instanceof AdapterWrapper) {
            return;
        }
        for (ModuleNode child : children(node)) {
            visit(child, nodes, seen);
        }
    }

    /** The direct children of a node: registered children first, then field-only blocks. */
    static List<ModuleNode> children(ModuleNode node) {
        Block block = node.block();
        List<Pair<String, Block>> registered = new ArrayList<>();
        for (Pair<String, Block> pair : block.getChildren()) {
            registered.add(pair);
        }
        List<String> segments = new ArrayList<>();
        for (int i = 0; i < registered.size(); i++) {
            segments.add(stripPrefix(registered.get(i).getKey(), i));
        }
        Map<String, Integer> counts = new LinkedHashMap<>();
        segments.forEach(s -> counts.merge(s, 1, Integer::sum));

        List<ModuleNode> result = new ArrayList<>();
        Set<Block> registeredBlocks = Collections.newSetFromMap(new IdentityHashMap<>());
        for (int i = 0; i < registered.size(); i++) {
            String segment = segments.get(i);
            if (counts.get(segment) > 1) {
                segment = segment + "_" + (i + 1);
            }
            Block child = registered.get(i).getValue();
            registeredBlocks.add(child);
            result.add(
                    new ModuleNode(
                            join(node.path(), segment),
                            child,
                            node,
                            registered.get(i).getKey(),
                            null));
        }
        for (Map.Entry<String, Block> field : blockFields(block).entrySet()) {
            if (!registeredBlocks.contains(field.getValue())) {
                registeredBlocks.add(field.getValue());
                result.add(
                        new ModuleNode(
                                join(node.path(), field.getKey()),
                                field.getValue(),
                                node,
                                null,
                                field.getKey()));
            }
        }
        return result;
    }

    /** Non-static fields of the block's class hierarchy (below AbstractBlock) that hold a block. */
    static Map<String, Block> blockFields(Block block) {
        Map<String, Block> result = new LinkedHashMap<>();
        for (Field field : instanceFields(block.getClass())) {
            if (!Block.class.isAssignableFrom(field.getType())) {
                continue;
            }
            Object value = read(field, block);
            if (value != null && !result.containsKey(field.getName())) {
                // a field holding a stand-in for a wrapper shows the wrapper
                result.put(field.getName(), StandIn.unwrap(value));
            }
        }
        return result;
    }

    static List<Field> instanceFields(Class<?> type) {
        List<Field> fields = new ArrayList<>();
        for (Class<?> c = type;
                c != null && c != AbstractBlock.class && c != Object.class;
                c = c.getSuperclass()) {
            for (Field field : c.getDeclaredFields()) {
                if (!Modifier.isStatic(field.getModifiers()) && !field.isSynthetic()) {
                    fields.add(field);
                }
            }
        }
        return fields;
    }

    static Object read(Field field, Object owner) {
        try {
            field.setAccessible(true);
            return field.get(owner);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null; // an inaccessible field (a JDK class) holds no block of ours
        }
    }

    static String stripPrefix(String key, int index) {
        String prefix = String.format(Locale.ROOT, "%02d", index + 1);
        if (key.startsWith(prefix) && key.length() > prefix.length()) {
            return key.substring(prefix.length());
        }
        return key;
    }

    private static String join(String parent, String segment) {
        return parent.isEmpty() ? segment : parent + "." + segment;
    }

    /** {@return the root block} */
    public Block root() {
        return root;
    }

    /** {@return every node in depth-first order, the root (path {@code ""}) first} */
    public List<ModuleNode> nodes() {
        return List.copyOf(nodesByPath.values());
    }

    /** {@return every path, in depth-first order, without the root's empty path} */
    public List<String> paths() {
        List<String> paths = new ArrayList<>(nodesByPath.keySet());
        paths.remove("");
        return paths;
    }

    /**
     * The node at {@code path}, if any.
     *
     * @param path the path
     * @return the node, or empty
     */
    public Optional<ModuleNode> find(String path) {
        return Optional.ofNullable(nodesByPath.get(path));
    }

    /**
     * The node at {@code path}; an exception naming the closest paths if there is none.
     *
     * @param path the path
     * @return the node
     */
    public ModuleNode get(String path) {
        ModuleNode node = nodesByPath.get(path);
        if (node == null) {
            throw new IllegalArgumentException(
                    "No module at path '"
                            + path
                            + "'. Closest existing paths: "
                            + PathSuggestions.closest(List.of(path), paths(), 5));
        }
        return node;
    }

    /**
     * The path of {@code block} in this tree (found by identity).
     *
     * @param block the block to find
     * @return its path, or empty
     */
    public Optional<String> pathOf(Block block) {
        for (ModuleNode node : nodesByPath.values()) {
            if (node.block() == block) {
                return Optional.of(node.path());
            }
        }
        return Optional.empty();
    }
}
