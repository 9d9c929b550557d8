package io.peft4j.core.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.peft4j.core.PeftModel;
import io.peft4j.core.train.LossFunction;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;

/**
 * The supervised set-up the methods' training tests share: (input, target) rows held as two arrays,
 * the mean squared error of a model's output, and the mean of a stretch of the loss curve.
 */
public final class Supervised {

    private Supervised() {}

    /**
     * Rows {@code i} of {@code inputs} and {@code targets} as training examples; each batch is
     * attached to the batch's manager (a slice otherwise belongs to the sliced array's manager and
     * lives until the test ends).
     *
     * @param inputs one example per row
     * @param targets one target per row, as many rows as inputs
     * @return the examples
     */
    public static TrainingData pairs(NDArray inputs, NDArray targets) {
        long rows = inputs.getShape().get(0);
        if (targets.getShape().get(0) != rows) {
            throw new IllegalArgumentException(
                    "inputs have " + rows + " rows, targets " + targets.getShape());
        }
        return new TrainingData() {
            @Override
            public int size() {
                return (int) rows;
            }

            @Override
            public NDList batch(NDManager manager, int[] indices) {
                NDArray index = manager.create(indices);
                NDList batch = new NDList(inputs.get(index), targets.get(index));
                batch.attach(manager);
                return batch;
            }
        };
    }

    /**
     * Mean squared error of {@code model}'s output for the batch's input against its target.
     *
     * @param model the model being trained
     * @return the loss
     */
    public static LossFunction mse(PeftModel model) {
        return (batch, training) ->
                model.forward(new NDList(batch.get(0)), training)
                        .head()
                        .sub(batch.get(1))
                        .square()
                        .mean();
    }

    /**
     * The mean of the step losses {@code from} (inclusive) to {@code to} (exclusive).
     *
     * @param result a finished run
     * @param from first step index
     * @param to end step index
     * @return their mean
     */
    public static float meanLoss(TrainingResult result, int from, int to) {
        float sum = 0;
        for (int i = from; i < to; i++) {
            sum += result.losses().get(i);
        }
        return sum / (to - from);
    }
}
