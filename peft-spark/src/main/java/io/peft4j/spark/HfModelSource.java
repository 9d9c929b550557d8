package io.peft4j.spark;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.TextTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@link ModelSource}'s Hugging Face checkpoint folders (see its factories). */
final class HfModelSource implements ModelSource {

    private static final long serialVersionUID = 1L;

    /**
     * The engine's random seed is process-wide: two tasks of one executor loading at once would
     * interleave their draws, and a new head would differ between replicas.
     */
    private static final Object LOAD_LOCK = new Object();

    private final String dir;
    private final int numLabels;
    private final int maxLength;
    private final long headSeed;

    HfModelSource(String dir, int numLabels, int maxLength, long headSeed) {
        if (dir == null || dir.isBlank()) {
            throw new IllegalArgumentException("model folder is empty");
        }
        if (numLabels == 1 || numLabels < 0) {
            throw new IllegalArgumentException(
                    "numLabels must be >= 2 for a classifier, got " + numLabels);
        }
        if (maxLength < 0) {
            throw new IllegalArgumentException(
                    "maxLength must be >= 0 (0: no truncation), got " + maxLength);
        }
        this.dir = dir;
        this.numLabels = numLabels;
        this.maxLength = maxLength;
        this.headSeed = headSeed;
    }

    @Override
    public String key() {
        return Path.of(dir).toAbsolutePath().normalize()
                + (numLabels > 0 ? " (classifier, " + numLabels + " labels)" : "");
    }

    @Override
    public LoadedModel load(Device device) {
        Path folder = Path.of(dir).toAbsolutePath().normalize();
        if (!Files.isDirectory(folder)) {
            throw new IllegalArgumentException(
                    "model folder "
                            + folder
                            + " does not exist on this executor"
                            + " (the path must name the same checkpoint on every executor: a shared or replicated folder)");
        }
        Path tokenizerFile = folder.resolve("tokenizer.json");
        if (!Files.isRegularFile(tokenizerFile)) {
            throw new IllegalArgumentException("model folder " + folder + " has no tokenizer.json");
        }
        Model model;
        synchronized (LOAD_LOCK) {
            Engine.getInstance().setRandomSeed((int) headSeed);
            model =
                    numLabels > 0
                            ? HfCheckpoint.loadForSequenceClassification(folder, numLabels, device)
                            : HfCheckpoint.load(folder, device);
        }
        try {
            TextTokenizer tokenizer =
                    TextTokenizer.builder(tokenizerFile).maxLength(maxLength).build();
            return new LoadedModel(model, tokenizer, key());
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    @Override
    public String toString() {
        return "ModelSource(" + key() + ")";
    }
}
