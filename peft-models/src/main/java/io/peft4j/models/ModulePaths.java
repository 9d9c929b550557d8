package io.peft4j.models;

import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Hugging Face style names for a DJL block tree. DJL's {@code AbstractBlock.addChildBlock} stores
 * child i as {@code String.format("%02d", i + 1) + name}; a path segment is that key with the
 * prefix stripped, and a parameter's name is its module path plus {@code "." + parameterName}, so
 * names equal the keys of the Hugging Face state dict ({@code
 * model.layers.0.self_attn.q_proj.weight}).
 */
public final class ModulePaths {

    private ModulePaths() {}

    /**
     * The path segment of the child stored at {@code index} under {@code key}.
     *
     * @param index the child's position in its parent's children list
     * @param key the child's key in that list
     * @return the key without DJL's numeric prefix
     */
    public static String segment(int index, String key) {
        String prefix = String.format(Locale.ROOT, "%02d", index + 1);
        return key.startsWith(prefix) ? key.substring(prefix.length()) : key;
    }

    /**
     * Every parameter under {@code root}, keyed by its Hugging Face name, in tree order.
     *
     * @param root the top block (its own name is not part of the paths)
     * @return an unmodifiable map from name to parameter
     */
    public static Map<String, Parameter> namedParameters(Block root) {
        Map<String, Parameter> out = new LinkedHashMap<>();
        collectParameters(root, "", out);
        return Collections.unmodifiableMap(out);
    }

    /**
     * Every block under {@code root}, keyed by its path ({@code ""} for the root), in tree order.
     *
     * @param root the top block
     * @return an unmodifiable map from path to block
     */
    public static Map<String, Block> namedModules(Block root) {
        Map<String, Block> out = new LinkedHashMap<>();
        collectModules(root, "", out);
        return Collections.unmodifiableMap(out);
    }

    private static void collectParameters(Block block, String path, Map<String, Parameter> out) {
        for (Pair<String, Parameter> p : block.getDirectParameters()) {
            out.put(join(path, p.getKey()), p.getValue());
        }
        BlockList children = block.getChildren();
        for (int i = 0; i < children.size(); i++) {
            Pair<String, Block> c = children.get(i);
            collectParameters(c.getValue(), join(path, segment(i, c.getKey())), out);
        }
    }

    private static void collectModules(Block block, String path, Map<String, Block> out) {
        out.put(path, block);
        BlockList children = block.getChildren();
        for (int i = 0; i < children.size(); i++) {
            Pair<String, Block> c = children.get(i);
            collectModules(c.getValue(), join(path, segment(i, c.getKey())), out);
        }
    }

    private static String join(String path, String name) {
        return path.isEmpty() ? name : path + "." + name;
    }
}
