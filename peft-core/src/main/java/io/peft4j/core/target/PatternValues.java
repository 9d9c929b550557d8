package io.peft4j.core.target;

import java.util.Map;
import java.util.regex.Pattern;

/**
 * Per-module values by pattern ({@code rank_pattern}, {@code alpha_pattern}), with Hugging Face
 * peft's rule: the first key {@code k} (in map order) such that the path fully matches {@code
 * (.*\.)?k}.
 */
public final class PatternValues {

    private PatternValues() {}

    /**
     * The value for {@code path}, or {@code fallback} when no key matches.
     *
     * @param <T> the value type
     * @param patterns values by pattern key
     * @param path the module path
     * @param fallback the value when no key matches
     * @return the matching value, or {@code fallback}
     */
    public static <T> T lookup(Map<String, T> patterns, String path, T fallback) {
        for (Map.Entry<String, T> e : patterns.entrySet()) {
            if (Pattern.compile("(.*\\.)?(" + e.getKey() + ")").matcher(path).matches()) {
                return e.getValue();
            }
        }
        return fallback;
    }
}
