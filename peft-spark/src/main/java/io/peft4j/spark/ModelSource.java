package io.peft4j.spark;

import ai.djl.Device;
import java.io.Serializable;

/**
 * How an executor gets the base model: a stable key (compared across workers and used to cache the
 * model once per executor JVM) and a loader. It travels to the executors, so it must be
 * serializable; it loads on the executor, never on the driver.
 */
public interface ModelSource extends Serializable {

    /**
     * Returns the key that names this model, e.g. its absolute path. Workers that report different
     * keys refuse to train together; inference caches one model per key and JVM.
     *
     * @return the key
     */
    String key();

    /**
     * Loads a fresh copy of the model and its tokenizer.
     *
     * @param device where the weights go
     * @return the model; the caller closes it
     */
    LoadedModel load(Device device);

    /**
     * A BERT-family checkpoint folder ({@code config.json}, {@code model.safetensors}, {@code
     * tokenizer.json}) loaded as a sequence classifier with a new head of {@code numLabels}
     * classes, initialised from {@code headSeed} so every worker starts from the same head.
     *
     * @param dir the folder, as seen from the executors (a shared or replicated path)
     * @param numLabels classes of the head, at least 2
     * @param maxLength tokens kept per text (0: no truncation)
     * @param headSeed seeds the new head's initialisation
     * @return the source
     */
    static ModelSource classifier(String dir, int numLabels, int maxLength, long headSeed) {
        return new HfModelSource(dir, numLabels, maxLength, headSeed);
    }

    /**
     * A Hugging Face checkpoint folder loaded as {@code config.json} describes it (a BERT encoder
     * or a LLaMA-family decoder) with its {@code tokenizer.json}.
     *
     * @param dir the folder, as seen from the executors
     * @param maxLength tokens kept per text (0: no truncation)
     * @return the source
     */
    static ModelSource checkpoint(String dir, int maxLength) {
        return new HfModelSource(dir, 0, maxLength, 0);
    }
}
