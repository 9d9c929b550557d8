package io.peft4j.tasks;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.train.LossFunction;
import io.peft4j.core.train.TrainingData;
import io.peft4j.models.BertForSequenceClassification;
import io.peft4j.models.TextTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.IntStream;

/**
 * Sentence classification with a {@code BertForSequenceClassification}-style block (input {@code
 * [input_ids, attention_mask, token_type_ids]}, output {@code [logits (B, numLabels)]}): tokenizes
 * once, batches by index with padding to the longest row of the batch, computes the mean
 * cross-entropy, and measures accuracy and loss on a data set.
 *
 * <p>A batch is {@code [input_ids, attention_mask, token_type_ids, labels]} (int64). The model is
 * called through {@link Block#forward}, so a {@code PeftModel} wrapped around it (adapters
 * installed in place) is what runs.
 *
 * <pre>{@code
 * ClassificationTask train = new ClassificationTask(model, tokenizer, trainExamples, 2);
 * FineTuner.builder().build().fit(peft, train, train);
 * Metrics m = new ClassificationTask(model, tokenizer, devExamples, 2).evaluate(32);
 * }</pre>
 */
public final class ClassificationTask implements TrainingData, LossFunction {

    /**
     * Loss and accuracy over a data set.
     *
     * @param loss mean cross-entropy per example
     * @param accuracy fraction of examples whose arg-max class is the label
     * @param examples how many examples were scored
     */
    public record Metrics(double loss, double accuracy, int examples) {}

    private final Block model;
    private final int numLabels;
    private final long padTokenId;
    private final long[][] ids;
    private final int[] labels;

    /**
     * Tokenizes the examples.
     *
     * @param model the classifier
     * @param tokenizer a tokenizer with special tokens on (and a max length, to truncate)
     * @param examples the examples, at least one; every label must be below {@code numLabels}
     * @param numLabels the number of classes of the model's head
     * @throws IllegalArgumentException if a label is out of range or an example has no tokens
     */
    public ClassificationTask(
            Block model, TextTokenizer tokenizer, List<LabeledText> examples, int numLabels) {
        this.model = Objects.requireNonNull(model, "model");
        if (examples.isEmpty()) {
            throw new IllegalArgumentException("no examples");
        }
        if (numLabels < 2) {
            throw new IllegalArgumentException("numLabels must be >= 2, got " + numLabels);
        }
        this.numLabels = numLabels;
        this.padTokenId = tokenizer.padTokenId();
        this.ids = new long[examples.size()][];
        this.labels = new int[examples.size()];
        for (int i = 0; i < examples.size(); i++) {
            LabeledText ex = examples.get(i);
            if (ex.label() >= numLabels) {
                throw new IllegalArgumentException(
                        (ex.where() != null
                                        ? ex.where() + ": label "
                                        : "example " + i + " has label ")
                                + ex.label()
                                + " but the model has "
                                + numLabels
                                + " classes (labels 0.."
                                + (numLabels - 1)
                                + ")");
            }
            ids[i] = tokenizer.encode(ex.text());
            if (ids[i].length == 0) {
                throw new IllegalArgumentException(
                        (ex.where() != null ? ex.where() + ": the example" : "example " + i)
                                + " has no tokens: '"
                                + ex.text()
                                + "'");
            }
            labels[i] = ex.label();
        }
    }

    /**
     * @return the number of classes
     */
    public int numLabels() {
        return numLabels;
    }

    /**
     * @return the labels of the examples, in order
     */
    public int[] labels() {
        return labels.clone();
    }

    /**
     * The number of labels a data set needs: the largest label plus one, at least 2.
     *
     * @param examples labelled examples
     * @return the class count
     */
    public static int numLabels(List<LabeledText> examples) {
        return Math.max(2, examples.stream().mapToInt(LabeledText::label).max().orElse(0) + 1);
    }

    /**
     * Unfreezes the classification head of {@code model} and returns its parameters by name ({@code
     * classifier.weight}, {@code classifier.bias}). A head loaded for a new task starts random, so
     * a run that trains an adapter must also train the head in full: these are the parameters to
     * add to the adapter's.
     *
     * @param model a classifier, e.g. from {@code HfCheckpoint.loadForSequenceClassification}
     * @return the head's parameters, now trainable, in model order
     */
    public static Map<String, Parameter> unfreezeHead(BertForSequenceClassification model) {
        Map<String, Parameter> head = new LinkedHashMap<>();
        model.namedParameters()
                .forEach(
                        (name, p) -> {
                            if (name.startsWith("classifier.")) {
                                p.freeze(false);
                                head.put(name, p);
                            }
                        });
        return head;
    }

    @Override
    public int size() {
        return ids.length;
    }

    @Override
    public NDList batch(NDManager manager, int[] indices) {
        int width = 0;
        for (int i : indices) {
            width = Math.max(width, ids[i].length);
        }
        long[][] batchIds = new long[indices.length][width];
        long[][] mask = new long[indices.length][width];
        long[] batchLabels = new long[indices.length];
        for (int b = 0; b < indices.length; b++) {
            long[] row = ids[indices[b]];
            Arrays.fill(batchIds[b], padTokenId);
            System.arraycopy(row, 0, batchIds[b], 0, row.length);
            Arrays.fill(mask[b], 0, row.length, 1L);
            batchLabels[b] = labels[indices[b]];
        }
        return new NDList(
                manager.create(batchIds),
                manager.create(mask),
                manager.zeros(
                        new ai.djl.ndarray.types.Shape(indices.length, width), DataType.INT64),
                manager.create(batchLabels));
    }

    /**
     * Runs the model on a batch's inputs.
     *
     * @param batch a batch from {@link #batch}
     * @param training whether dropout is on
     * @return logits (B, numLabels)
     */
    public NDArray logits(NDList batch, boolean training) {
        NDManager manager = batch.head().getManager();
        return model.forward(new ParameterStore(manager, false), batch.subNDList(0, 3), training)
                .head();
    }

    @Override
    public NDArray loss(NDList batch, boolean training) {
        return crossEntropy(logits(batch, training), batch.get(3));
    }

    /**
     * Mean cross-entropy of logits against integer labels.
     *
     * @param logits (B, C)
     * @param labels (B) int64
     * @return a scalar
     */
    public static NDArray crossEntropy(NDArray logits, NDArray labels) {
        NDArray logProbs = logits.logSoftmax(-1);
        NDArray picked = logProbs.gather(labels.toType(DataType.INT64, false).reshape(-1, 1), 1);
        return picked.neg().mean();
    }

    /**
     * Scores every example without gradients: mean cross-entropy and accuracy.
     *
     * @param batchSize examples per forward pass
     * @return the metrics
     */
    public Metrics evaluate(int batchSize) {
        int[] predicted = new int[size()];
        double lossSum = evaluateInto(batchSize, predicted);
        int correct = 0;
        for (int i = 0; i < predicted.length; i++) {
            correct += predicted[i] == labels[i] ? 1 : 0;
        }
        return new Metrics(lossSum / size(), correct / (double) size(), size());
    }

    /**
     * The arg-max class of every example.
     *
     * @param batchSize examples per forward pass
     * @return predicted labels, in example order
     */
    public int[] predict(int batchSize) {
        int[] predicted = new int[size()];
        evaluateInto(batchSize, predicted);
        return predicted;
    }

    private double evaluateInto(int batchSize, int[] predicted) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
        }
        Device device = modelDevice(model);
        // Batches of similar length pad less (SST-2's dev set scores in about half the time);
        // every example is scored on its own, so the order changes no result: predictions go
        // back to example order.
        int[] byLength =
                IntStream.range(0, size())
                        .boxed()
                        .sorted(Comparator.comparingInt(i -> ids[i].length))
                        .mapToInt(Integer::intValue)
                        .toArray();
        double lossSum = 0;
        try (NoGrad off = NoGrad.enter();
                NDManager manager = NDManager.newBaseManager(device)) {
            for (int start = 0; start < size(); start += batchSize) {
                int[] indices =
                        Arrays.copyOfRange(byLength, start, Math.min(size(), start + batchSize));
                try (NDManager step = manager.newSubManager()) {
                    NDList batch = batch(step, indices);
                    NDArray logits = logits(batch, false);
                    NDArray lossPerExample =
                            logits.logSoftmax(-1).gather(batch.get(3).reshape(-1, 1), 1).neg();
                    lossSum += lossPerExample.sum().toType(DataType.FLOAT64, false).getDouble();
                    long[] argMax = logits.argMax(-1).toType(DataType.INT64, false).toLongArray();
                    for (int i = 0; i < indices.length; i++) {
                        predicted[indices[i]] = (int) argMax[i];
                    }
                }
            }
        }
        return lossSum;
    }

    /** The device of a block's first parameter (CPU for a block without parameters). */
    static Device modelDevice(Block block) {
        List<Device> devices = new ArrayList<>();
        block.getParameters().values().stream()
                .filter(p -> p.isInitialized())
                .findFirst()
                .ifPresent(p -> devices.add(p.getArray().getDevice()));
        return devices.isEmpty() ? Device.cpu() : devices.get(0);
    }
}
