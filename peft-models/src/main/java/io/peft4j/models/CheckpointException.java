package io.peft4j.models;

import java.util.List;

/**
 * A checkpoint does not fit the model: tensors the model needs are missing, tensors the model does
 * not have are present, or shapes differ. The message lists every problem; the lists are also
 * available separately.
 */
public final class CheckpointException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** Model parameters the checkpoint lacks. */
    private final List<String> missing;

    /** Checkpoint tensors the model has no parameter for. */
    private final List<String> unexpected;

    /** Tensors whose shape differs from the parameter's. */
    private final List<String> mismatched;

    CheckpointException(
            String source, List<String> missing, List<String> unexpected, List<String> mismatched) {
        super(message(source, missing, unexpected, mismatched));
        this.missing = List.copyOf(missing);
        this.unexpected = List.copyOf(unexpected);
        this.mismatched = List.copyOf(mismatched);
    }

    /**
     * @return names the model has and the checkpoint lacks
     */
    public List<String> missing() {
        return missing;
    }

    /**
     * @return names the checkpoint has and the model lacks (not ignored by rule)
     */
    public List<String> unexpected() {
        return unexpected;
    }

    /**
     * @return "name: checkpoint shape vs model shape" for each shape that differs
     */
    public List<String> mismatched() {
        return mismatched;
    }

    private static String message(
            String source, List<String> missing, List<String> unexpected, List<String> mismatched) {
        StringBuilder sb =
                new StringBuilder("Checkpoint ").append(source).append(" does not fit the model:");
        append(sb, "missing tensors (model has them, checkpoint does not)", missing);
        append(sb, "unexpected tensors (checkpoint has them, model does not)", unexpected);
        append(sb, "shape mismatches (checkpoint vs model)", mismatched);
        return sb.toString();
    }

    private static void append(StringBuilder sb, String title, List<String> items) {
        if (items.isEmpty()) {
            return;
        }
        sb.append("\n  ").append(items.size()).append(' ').append(title).append(':');
        int shown = Math.min(items.size(), 40);
        for (int i = 0; i < shown; i++) {
            sb.append("\n    ").append(items.get(i));
        }
        if (items.size() > shown) {
            sb.append("\n    ... and ").append(items.size() - shown).append(" more");
        }
    }
}
