package io.peft4j.lift.experiments;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;

import io.peft4j.core.train.TrainingData;
import io.peft4j.models.BertForSequenceClassification;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.TextTokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * SST-2 with all-MiniLM-L6-v2 ({@code ../shared/models/all-minilm-l6-v2}, a sentence-transformers
 * BertModel checkpoint: the pooler and the 2-class {@code classifier} are new, initialised from the
 * engine seed). A seeded subset of train.tsv, the full dev.tsv (872). Batches are
 * {@code [input_ids, attention_mask, token_type_ids, labels]}, padded to the longest row.
 * The same logic as peft-examples' ClassificationTask (copied: peft-examples may come to depend on
 * the method modules, so they must not depend on it).
 */
final class Sst2 implements TrainingData {

    static final String MODEL = "models/all-minilm-l6-v2";

    private final long[][] ids;
    private final int[] labels;

    private Sst2(long[][] ids, int[] labels) {
        this.ids = ids;
        this.labels = labels;
    }

    /** Reads a sentence/label TSV, takes a seeded random subset of {@code limit} rows (all if 0), tokenizes. */
    static Sst2 read(Path tsv, TextTokenizer tok, int limit, long seed) throws IOException {
        List<String> lines = new ArrayList<>(Files.readAllLines(tsv, StandardCharsets.UTF_8));
        lines.remove(0);
        lines.removeIf(String::isBlank);
        if (limit > 0 && limit < lines.size()) {
            Collections.shuffle(lines, new Random(seed));
            lines = lines.subList(0, limit);
        }
        long[][] ids = new long[lines.size()][];
        int[] labels = new int[lines.size()];
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            int tab = line.lastIndexOf('\t');
            ids[i] = tok.encode(line.substring(0, tab).trim());
            labels[i] = Integer.parseInt(line.substring(tab + 1).trim());
        }
        return new Sst2(ids, labels);
    }

    static TextTokenizer tokenizer(Path shared) {
        return TextTokenizer.builder(shared.resolve(MODEL).resolve("tokenizer.json")).maxLength(64).build();
    }

    /** Loads MiniLM with a fresh pooler and 2-class head, initialised from {@code seed}. */
    static Model load(Path shared, long seed) {
        Engine.getInstance().setRandomSeed((int) seed);
        return HfCheckpoint.loadForSequenceClassification(shared.resolve(MODEL), 2, Device.cpu());
    }

    /** The head's parameters (classifier.weight, classifier.bias), unfrozen: trained in full by every run. */
    static Map<String, Parameter> head(Block block) {
        Map<String, Parameter> out = new LinkedHashMap<>();
        ((BertForSequenceClassification) block).namedParameters().forEach((name, p) -> {
            if (name.startsWith("classifier.")) {
                p.freeze(false);
                out.put("head." + name, p);
            }
        });
        return out;
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
            System.arraycopy(row, 0, batchIds[b], 0, row.length);
            Arrays.fill(mask[b], 0, row.length, 1L);
            batchLabels[b] = labels[indices[b]];
        }
        return new NDList(manager.create(batchIds), manager.create(mask),
                manager.zeros(new Shape(indices.length, width), DataType.INT64), manager.create(batchLabels));
    }

    static NDArray logits(Block model, NDList batch, boolean training) {
        return model.forward(new ParameterStore(batch.head().getManager(), false), batch.subNDList(0, 3), training).head();
    }

    /** Mean cross-entropy. */
    static NDArray loss(Block model, NDList batch, boolean training) {
        NDArray logp = logits(model, batch, training).logSoftmax(-1);
        return logp.gather(batch.get(3).reshape(-1, 1), 1).neg().mean();
    }

    /** Accuracy over every example (no gradient recording: the caller is outside any collector). */
    double accuracy(Block model, NDManager parent) {
        // batches of similar length (less padding); the order does not change the accuracy
        Integer[] order = new Integer[ids.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Integer.compare(ids[a].length, ids[b].length));
        int correct = 0;
        for (int start = 0; start < ids.length; start += 64) {
            int end = Math.min(ids.length, start + 64);
            int[] idx = new int[end - start];
            for (int i = 0; i < idx.length; i++) {
                idx[i] = order[start + i];
            }
            try (NDManager m = parent.newSubManager()) {
                long[] pred = logits(model, batch(m, idx), false).argMax(-1).toType(DataType.INT64, false).toLongArray();
                for (int i = 0; i < idx.length; i++) {
                    correct += pred[i] == labels[idx[i]] ? 1 : 0;
                }
            }
        }
        return correct / (double) ids.length;
    }
}
