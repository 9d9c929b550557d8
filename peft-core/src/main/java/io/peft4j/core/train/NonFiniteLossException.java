package io.peft4j.core.train;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Thrown when a step's loss (or, with clipping on, its gradient norm) is NaN or infinite. The
 * trainer throws it before applying that step's update, so the parameters are those after the
 * previous step, and the message names the last checkpoint to resume from.
 */
public class NonFiniteLossException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** The 1-based number of the optimiser step that failed. */
    private final long step;

    /** The failed step's loss. */
    private final float loss;

    private final transient Path lastCheckpoint;

    /**
     * Creates the exception.
     *
     * @param what what was not finite, e.g. {@code "loss"} or {@code "gradient norm"}
     * @param step the 1-based number of the optimiser step that failed
     * @param value the non-finite value
     * @param loss the step's loss
     * @param lastCheckpoint the last checkpoint written or resumed from, or null if none
     */
    public NonFiniteLossException(
            String what, long step, float value, float loss, Path lastCheckpoint) {
        super(message(what, step, value, loss, lastCheckpoint));
        this.step = step;
        this.loss = loss;
        this.lastCheckpoint = lastCheckpoint;
    }

    private static String message(
            String what, long step, float value, float loss, Path lastCheckpoint) {
        String lossPart = "loss".equals(what) ? "" : " (loss " + loss + ")";
        return String.format(
                "Non-finite %s %s at step %d%s; stopped before the update. Last good checkpoint: %s",
                what,
                value,
                step,
                lossPart,
                lastCheckpoint == null ? "none" : lastCheckpoint.toString());
    }

    /**
     * Returns the 1-based number of the step whose loss was not finite.
     *
     * @return the step number
     */
    public long step() {
        return step;
    }

    /**
     * Returns the step's loss (NaN or infinite when the loss was the problem).
     *
     * @return the loss
     */
    public float loss() {
        return loss;
    }

    /**
     * Returns the last checkpoint written (or resumed from) before the failure.
     *
     * @return the checkpoint directory, if any
     */
    public Optional<Path> lastCheckpoint() {
        return Optional.ofNullable(lastCheckpoint);
    }
}
