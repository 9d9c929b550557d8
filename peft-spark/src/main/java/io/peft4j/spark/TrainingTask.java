package io.peft4j.spark;

import io.peft4j.core.train.LossFunction;
import io.peft4j.core.train.TrainingData;
import io.peft4j.tasks.ClassificationTask;
import io.peft4j.tasks.LabeledText;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Row;

/**
 * What a worker trains on: turns the rows of its partition into the {@link TrainingData} and {@link
 * LossFunction} of peft-core's trainer, given the model loaded on that worker.
 */
public interface TrainingTask extends Serializable {

    /**
     * A worker's training data and loss.
     *
     * @param data the worker's training data
     * @param loss the loss to minimise
     */
    record Prepared(TrainingData data, LossFunction loss) {}

    /**
     * Returns the columns the task reads; only these travel to the workers.
     *
     * @return column names
     */
    List<String> columns();

    /**
     * Builds the worker's data and loss.
     *
     * @param model the worker's model (adapters already installed in its block)
     * @param rows the rows of the worker's partition, holding {@link #columns()} in order
     * @return the data and loss
     */
    Prepared prepare(LoadedModel model, List<Row> rows);

    /**
     * Sentence classification: a text column and an integer label column, mean cross-entropy
     * (peft-tasks' {@link ClassificationTask}); the model must be a classifier with at least {@code
     * numLabels} classes.
     *
     * @param textColumn the text column
     * @param labelColumn the label column (any integral type)
     * @param numLabels the number of classes
     * @return the task
     */
    static TrainingTask classification(String textColumn, String labelColumn, int numLabels) {
        return new ClassificationRows(textColumn, labelColumn, numLabels);
    }

    /** {@link #classification}'s implementation. */
    final class ClassificationRows implements TrainingTask {
        private static final long serialVersionUID = 1L;

        /** The text column. */
        private final String textColumn;

        /** The label column. */
        private final String labelColumn;

        /** The number of classes. */
        private final int numLabels;

        private ClassificationRows(String textColumn, String labelColumn, int numLabels) {
            if (numLabels < 2) {
                throw new IllegalArgumentException("numLabels must be >= 2, got " + numLabels);
            }
            this.textColumn = textColumn;
            this.labelColumn = labelColumn;
            this.numLabels = numLabels;
        }

        @Override
        public List<String> columns() {
            return List.of(textColumn, labelColumn);
        }

        @Override
        public Prepared prepare(LoadedModel model, List<Row> rows) {
            List<LabeledText> examples = new ArrayList<>(rows.size());
            for (Row row : rows) {
                if (row.isNullAt(0) || row.isNullAt(1)) {
                    throw new IllegalArgumentException(
                            "a row has a null '"
                                    + textColumn
                                    + "' or '"
                                    + labelColumn
                                    + "': "
                                    + row);
                }
                long label = ((Number) row.get(1)).longValue();
                if (label < 0 || label >= numLabels) {
                    throw new IllegalArgumentException(
                            "column '"
                                    + labelColumn
                                    + "' holds label "
                                    + label
                                    + ", expected 0.."
                                    + (numLabels - 1)
                                    + " (row "
                                    + row
                                    + ")");
                }
                examples.add(new LabeledText(row.getString(0), (int) label));
            }
            ClassificationTask task =
                    new ClassificationTask(model.block(), model.tokenizer(), examples, numLabels);
            return new Prepared(task, task);
        }
    }
}
