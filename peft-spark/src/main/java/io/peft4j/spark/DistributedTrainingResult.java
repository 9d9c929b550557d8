package io.peft4j.spark;

import java.nio.file.Path;
import java.util.List;

/**
 * The outcome of {@link DistributedFineTuner#fit}.
 *
 * @param adapterDir where the adapter was written (Hugging Face peft's layout)
 * @param workers the number of workers (partitions)
 * @param steps optimiser steps in the run, resumed ones included
 * @param startStep the step the last attempt resumed from (0: from scratch)
 * @param restarts how many times the job was restarted after a worker failure
 * @param meanLosses per step, the mean of the workers' losses (resumed steps from the checkpoint)
 * @param trainableValues adapter values each worker exchanges per step
 * @param messageBytes bytes of one worker's exchange message per step (base64 text of float32)
 * @param secondsPerStep wall time per step of the last attempt (slowest worker)
 * @param exchangeSecondsPerStep time per step spent in the exchange, mean over workers
 * @param hashChecks how many times the replicas' weights were compared (all equal, or it fails)
 * @param finalHash the checksum of the final adapter weights, equal on every worker
 */
public record DistributedTrainingResult(
        Path adapterDir,
        int workers,
        long steps,
        long startStep,
        int restarts,
        List<Float> meanLosses,
        long trainableValues,
        long messageBytes,
        double secondsPerStep,
        double exchangeSecondsPerStep,
        long hashChecks,
        String finalHash) {

    /**
     * Copies the loss list.
     *
     * @param adapterDir where the adapter was written (Hugging Face peft's layout)
     * @param workers the number of workers (partitions)
     * @param steps optimiser steps in the run, resumed ones included
     * @param startStep the step the last attempt resumed from (0: from scratch)
     * @param restarts how many times the job was restarted after a worker failure
     * @param meanLosses per step, the mean of the workers' losses (resumed steps from the
     *     checkpoint)
     * @param trainableValues adapter values each worker exchanges per step
     * @param messageBytes bytes of one worker's exchange message per step (base64 text of float32)
     * @param secondsPerStep wall time per step of the last attempt (slowest worker)
     * @param exchangeSecondsPerStep time per step spent in the exchange, mean over workers
     * @param hashChecks how many times the replicas' weights were compared (all equal, or it fails)
     * @param finalHash the checksum of the final adapter weights, equal on every worker
     */
    public DistributedTrainingResult {
        meanLosses = List.copyOf(meanLosses);
    }

    /**
     * @return the mean loss of the last step
     */
    public float finalLoss() {
        return meanLosses.get(meanLosses.size() - 1);
    }
}
