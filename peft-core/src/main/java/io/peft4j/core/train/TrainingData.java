package io.peft4j.core.train;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

/**
 * A data set the trainer batches by example index, so the order is a pure function of the seed and
 * the step: shuffling is deterministic and a resumed run needs no random-number-generator snapshot.
 */
public interface TrainingData {

    /**
     * Returns the number of examples.
     *
     * @return the number of examples, at least the batch size
     */
    int size();

    /**
     * Builds the batch holding the given examples, in the given order.
     *
     * @param manager the manager to create the batch arrays in; the trainer closes it after the
     *     step
     * @param indices example indices in {@code [0, size())}
     * @return the batch, as the {@link LossFunction} expects it
     */
    NDList batch(NDManager manager, int[] indices);
}
