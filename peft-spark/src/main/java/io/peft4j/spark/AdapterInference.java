package io.peft4j.spark;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.spi.Selection;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Objects;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Applies a base model with one or several adapters to a text column of a DataFrame. A column may
 * name each row's adapter (null or {@code "__base__"}: the base model); each batch of rows runs as
 * one mixed batch ({@code PeftModel.forward(inputs, adapterNames)}). Each executor loads the model
 * and adapters once and keeps them for later tasks and jobs.
 *
 * <p>The output column holds, per row, the model's first output: a classifier's logits, or an
 * encoder's last hidden state mean-pooled over the row's tokens (a sentence embedding).
 *
 * <pre>{@code
 * Dataset<Row> scored = AdapterInference.builder()
 *         .model(ModelSource.classifier("/shared/all-minilm-l6-v2", 2, 128, 42))
 *         .adapter("sst2", "/shared/adapters/sst2")
 *         .adapter("imdb", "/shared/adapters/imdb")
 *         .textColumn("sentence").adapterColumn("adapter").outputColumn("logits")
 *         .build()
 *         .transform(df);
 * }</pre>
 */
public final class AdapterInference implements Serializable {

    private static final long serialVersionUID = 1L;

    /** The base model, loaded once per executor. */
    private final ModelSource model;

    /** Adapter folders by adapter name, in the order they were added. */
    private final LinkedHashMap<String, String> adapters;

    /** The text column. */
    private final String textColumn;

    /** The column naming each row's adapter, or null: every row uses the first adapter. */
    private final String adapterColumn;

    /** The output column. */
    private final String outputColumn;

    /** Rows per forward pass. */
    private final int batchSize;

    private AdapterInference(Builder b) {
        this.model = b.model;
        this.adapters = new LinkedHashMap<>(b.adapters);
        this.textColumn = b.textColumn;
        this.adapterColumn = b.adapterColumn;
        this.outputColumn = b.outputColumn;
        this.batchSize = b.batchSize;
    }

    /**
     * @return a builder; model, at least one adapter and the text column are required
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Adds the output column (array of float) to {@code data}; lazy, like any transformation.
     *
     * @param data rows with the text column (and the adapter column when set)
     * @return the rows with the output column appended
     */
    public Dataset<Row> transform(Dataset<Row> data) {
        StructType schema = data.schema();
        int textIndex = index(schema, textColumn);
        if (!(schema.fields()[textIndex].dataType()
                instanceof org.apache.spark.sql.types.StringType)) {
            throw new IllegalArgumentException(
                    "column '"
                            + textColumn
                            + "' is "
                            + schema.fields()[textIndex].dataType()
                            + ", expected a string column");
        }
        int adapterIndex = adapterColumn == null ? -1 : index(schema, adapterColumn);
        if (schema.getFieldIndex(outputColumn).isDefined()) {
            throw new IllegalArgumentException(
                    "the DataFrame already has a column '" + outputColumn + "'");
        }
        StructType out =
                schema.add(outputColumn, DataTypes.createArrayType(DataTypes.FloatType, false));
        MapPartitionsFunction<Row, Row> fn = rows -> apply(rows, textIndex, adapterIndex);
        return data.mapPartitions(fn, Encoders.row(out));
    }

    private Iterator<Row> apply(Iterator<Row> rows, int textIndex, int adapterIndex) {
        if (!rows.hasNext()) {
            return rows; // an empty partition loads nothing
        }
        ExecutorModels.Served served = ExecutorModels.get(model, adapters);
        return new Iterator<>() {
            private final List<Row> ready = new ArrayList<>();
            private int next;

            @Override
            public boolean hasNext() {
                if (next < ready.size()) {
                    return true;
                }
                ready.clear();
                next = 0;
                List<Row> batch = new ArrayList<>(batchSize);
                while (batch.size() < batchSize && rows.hasNext()) {
                    batch.add(rows.next());
                }
                if (batch.isEmpty()) {
                    return false;
                }
                ready.addAll(score(served, batch, textIndex, adapterIndex));
                return true;
            }

            @Override
            public Row next() {
                if (!hasNext()) {
                    throw new java.util.NoSuchElementException();
                }
                return ready.get(next++);
            }
        };
    }

    private List<Row> score(
            ExecutorModels.Served served, List<Row> batch, int textIndex, int adapterIndex) {
        List<String> texts = new ArrayList<>(batch.size());
        List<String> names = new ArrayList<>(batch.size());
        for (Row row : batch) {
            if (row.isNullAt(textIndex)) {
                throw new IllegalArgumentException(
                        "column '" + textColumn + "' is null in row " + row);
            }
            texts.add(row.getString(textIndex));
            String name =
                    adapterIndex < 0
                            ? adapters.keySet().iterator().next()
                            : row.isNullAt(adapterIndex)
                                    ? Selection.BASE
                                    : row.getString(adapterIndex);
            if (!Selection.BASE.equals(name) && !adapters.containsKey(name)) {
                throw new IllegalArgumentException(
                        "column '"
                                + adapterColumn
                                + "' names adapter '"
                                + name
                                + "', which is not loaded; adapters: "
                                + adapters.keySet()
                                + " (or null / "
                                + Selection.BASE
                                + " for the base model)");
            }
            names.add(name);
        }
        float[][] outputs;
        try (NoGrad off = NoGrad.enter();
                NDManager manager =
                        NDManager.newBaseManager(Engine.getInstance().defaultDevice())) {
            NDList inputs = served.model().tokenizer().encode(texts).toNDList(manager);
            NDArray first = served.peft().forward(inputs, names).head();
            outputs = perRow(first, inputs.get(1));
        }
        List<Row> result = new ArrayList<>(batch.size());
        for (int i = 0; i < batch.size(); i++) {
            Object[] values = new Object[batch.get(i).length() + 1];
            for (int c = 0; c < values.length - 1; c++) {
                values[c] = batch.get(i).get(c);
            }
            float[] o = outputs[i];
            List<Float> boxed = new ArrayList<>(o.length);
            for (float v : o) {
                boxed.add(v);
            }
            values[values.length - 1] =
                    scala.jdk.javaapi.CollectionConverters.asScala(boxed).toSeq();
            result.add(RowFactory.create(values));
        }
        return result;
    }

    /** (B, C) as is; (B, T, H) mean-pooled over each row's real tokens. */
    private static float[][] perRow(NDArray output, NDArray mask) {
        NDArray rows;
        if (output.getShape().dimension() == 2) {
            rows = output;
        } else if (output.getShape().dimension() == 3) {
            NDArray m = mask.toType(output.getDataType(), false).expandDims(-1);
            rows = output.mul(m).sum(new int[] {1}).div(m.sum(new int[] {1}));
        } else {
            throw new IllegalArgumentException(
                    "the model's first output has shape "
                            + output.getShape()
                            + "; expected (batch, classes) or (batch, tokens, hidden)");
        }
        rows = rows.toType(DataType.FLOAT32, false);
        int n = Math.toIntExact(rows.getShape().get(0));
        int width = Math.toIntExact(rows.getShape().get(1));
        float[] flat = rows.toFloatArray();
        float[][] out = new float[n][width];
        for (int i = 0; i < n; i++) {
            System.arraycopy(flat, i * width, out[i], 0, width);
        }
        return out;
    }

    private static int index(StructType schema, String column) {
        if (!schema.getFieldIndex(column).isDefined()) {
            throw new IllegalArgumentException(
                    "the DataFrame has no column '"
                            + column
                            + "'; columns: "
                            + String.join(", ", schema.fieldNames()));
        }
        return schema.fieldIndex(column);
    }

    /** Builds an {@link AdapterInference}. */
    public static final class Builder {
        private ModelSource model;
        private final LinkedHashMap<String, String> adapters = new LinkedHashMap<>();
        private String textColumn;
        private String adapterColumn;
        private String outputColumn = "output";
        private int batchSize = 32;

        private Builder() {}

        /**
         * Sets the base model.
         *
         * @param model the base model, loaded once per executor
         * @return this builder
         */
        public Builder model(ModelSource model) {
            this.model = Objects.requireNonNull(model, "model");
            return this;
        }

        /**
         * @param name the adapter's name, as the adapter column spells it
         * @param dir its folder (Hugging Face peft layout), as seen from the executors
         * @return this builder
         * @throws IllegalArgumentException if the name is reserved or already given
         */
        public Builder adapter(String name, String dir) {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(dir, "dir");
            if (Selection.BASE.equals(name) || adapters.containsKey(name)) {
                throw new IllegalArgumentException(
                        "adapter name '" + name + "' is reserved or given twice");
            }
            adapters.put(name, dir);
            return this;
        }

        /**
         * Sets the text column (required).
         *
         * @param column the text column
         * @return this builder
         */
        public Builder textColumn(String column) {
            this.textColumn = Objects.requireNonNull(column, "column");
            return this;
        }

        /**
         * Sets the column naming each row's adapter.
         *
         * @param column the column naming each row's adapter (default: every row uses the first
         *     adapter)
         * @return this builder
         */
        public Builder adapterColumn(String column) {
            this.adapterColumn = Objects.requireNonNull(column, "column");
            return this;
        }

        /**
         * Sets the output column.
         *
         * @param column the output column (default "output")
         * @return this builder
         */
        public Builder outputColumn(String column) {
            this.outputColumn = Objects.requireNonNull(column, "column");
            return this;
        }

        /**
         * Sets the batch size.
         *
         * @param rows rows per forward pass, &gt;= 1 (default 32)
         * @return this builder
         * @throws IllegalArgumentException if {@code rows} is below 1
         */
        public Builder batchSize(int rows) {
            if (rows < 1) {
                throw new IllegalArgumentException("batchSize must be >= 1, got " + rows);
            }
            this.batchSize = rows;
            return this;
        }

        /**
         * Builds the transformation.
         *
         * @return the transformation
         * @throws IllegalArgumentException if the model, the text column or every adapter is
         *     missing
         */
        public AdapterInference build() {
            if (model == null || textColumn == null || adapters.isEmpty()) {
                throw new IllegalArgumentException(
                        "model, textColumn and at least one adapter are required");
            }
            return new AdapterInference(this);
        }
    }
}
