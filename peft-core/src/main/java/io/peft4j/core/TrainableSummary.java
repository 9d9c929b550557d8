package io.peft4j.core;

import java.util.Locale;

/**
 * Trainable and total parameter counts, printed like Hugging Face peft's {@code
 * print_trainable_parameters}.
 *
 * @param trainable elements in trainable tensors
 * @param total elements in all tensors of the model, adapters included
 */
public record TrainableSummary(long trainable, long total) {

    /**
     * Trainable share in percent.
     *
     * @return {@code 100 * trainable / total}, or 0 when {@code total} is 0
     */
    public double percent() {
        return total == 0 ? 0 : 100.0 * trainable / total;
    }

    @Override
    public String toString() {
        return String.format(
                Locale.ROOT,
                "trainable params: %,d || all params: %,d || trainable%%: %.4f",
                trainable,
                total,
                percent());
    }
}
