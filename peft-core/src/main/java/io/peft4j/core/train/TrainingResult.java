package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkState;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What a {@link FineTuner} run did.
 *
 * @param losses the loss of every optimiser step from step 1 (for a resumed run, the checkpoint's
 *     history followed by this run's), each the mean over the step's micro-batches
 * @param steps the optimiser steps completed in all (equal to {@code losses.size()})
 * @param seconds the wall time of this call
 * @param startStep the step this call started from (0, or the resumed checkpoint's step)
 * @param evaluations the evaluations so far, oldest first
 * @param lastCheckpoint the last checkpoint written or resumed from
 */
public record TrainingResult(
        List<Float> losses,
        long steps,
        double seconds,
        long startStep,
        List<Evaluation> evaluations,
        Optional<Path> lastCheckpoint) {

    /**
     * Copies the lists so the record is immutable.
     *
     * @param losses the loss of every optimiser step
     * @param steps the optimiser steps completed in all
     * @param seconds the wall time of this call
     * @param startStep the step this call started from
     * @param evaluations the evaluations so far
     * @param lastCheckpoint the last checkpoint written or resumed from
     */
    public TrainingResult {
        losses = List.copyOf(losses);
        evaluations = List.copyOf(evaluations);
        Objects.requireNonNull(lastCheckpoint, "lastCheckpoint");
    }

    /**
     * Returns the loss of the last step.
     *
     * @return the final loss
     * @throws IllegalStateException if no step ran
     */
    public float finalLoss() {
        checkState(!losses.isEmpty(), "no optimiser step has run");
        return losses.get(losses.size() - 1);
    }
}
