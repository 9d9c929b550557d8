package io.peft4j.core.tree;

import java.util.Comparator;
import java.util.List;
import java.util.stream.Collectors;

/** Finds the existing module paths closest to names a user asked for, for error messages. */
public final class PathSuggestions {

    private PathSuggestions() {}

    /**
     * The {@code limit} paths closest to any of {@code wanted}, by edit distance to the path or to
     * its last segment, whichever is smaller.
     *
     * @param wanted the names asked for
     * @param paths the existing paths
     * @param limit the most paths to return
     * @return the closest paths, closest first
     */
    public static List<String> closest(List<String> wanted, List<String> paths, int limit) {
        return paths.stream()
                .sorted(
                        Comparator.comparingInt((String p) -> distance(wanted, p))
                                .thenComparing(Comparator.naturalOrder()))
                .limit(limit)
                .collect(Collectors.toList());
    }

    private static int distance(List<String> wanted, String path) {
        String last = path.substring(path.lastIndexOf('.') + 1);
        int best = Integer.MAX_VALUE;
        for (String w : wanted) {
            best = Math.min(best, Math.min(levenshtein(w, path), levenshtein(w, last)));
        }
        return best;
    }

    static int levenshtein(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitution, Math.min(previous[j], current[j - 1]) + 1);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }
}
