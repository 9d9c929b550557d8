package io.peft4j.core.spi;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import java.util.Map;
import java.util.Optional;

/**
 * One named adapter attached to a model by a method. It owns its tensors, knows how to fold itself
 * into the base weights where the method allows it, and how to leave the model.
 *
 * <p>Tensor keys are the keys of Hugging Face peft's adapter file, without the adapter name: {@code
 * base_model.model.<module path>.lora_A.weight}.
 */
public interface Adapter {

    /** {@return the adapter's name} */
    String name();

    /** {@return the adapter's configuration} */
    AdapterConfig config();

    /** {@return the tensors this adapter trains, by file key, in a stable order} */
    Map<String, Parameter> parameters();

    /**
     * Frozen tensors that are saved with the adapter because it cannot be rebuilt without them
     * (index tables, say); empty for most methods.
     *
     * @return the frozen tensors by file key; empty when there are none
     */
    default Map<String, NDArray> frozenState() {
        return Map.of();
    }

    /**
     * What each tensor of this adapter's file must look like: name, type (float weights or integer
     * indices) and shape. A file is checked against it from its header before any tensor is read,
     * and {@link #load} checks the same in memory. The default: every parameter and every frozen
     * tensor, required, with its current shape.
     *
     * @return the specs by file key
     */
    default Map<String, AdapterTensors.Spec> tensorSpecs() {
        return AdapterTensors.specsOf(parameters(), frozenState(), "");
    }

    /**
     * The key a file's tensor is known by here, for files that spell a key differently (older peft
     * versions); the default keeps it.
     *
     * @param fileKey the key in the file
     * @return the key of {@link #tensorSpecs()} it stands for
     */
    default String canonicalKey(String fileKey) {
        return fileKey;
    }

    /**
     * Validates {@code tensors} against this adapter (every expected key present with the expected
     * type and shape, finite, no unexpected key; see {@link AdapterTensors#check}) and only then
     * copies the values in.
     *
     * @param tensors the tensors by file key
     * @throws IllegalArgumentException naming the key, the type or shape found and the one expected
     */
    void load(Map<String, NDArray> tensors);

    /** {@return why this method cannot merge, or {@code null} when it can} */
    default String mergeUnsupportedReason() {
        return null;
    }

    /**
     * Folds the adapter into the base weights. Refuses, leaving the weights untouched, if the
     * result would hold NaN or Inf.
     */
    void merge();

    /** Takes the merged adapter back out of the base weights. */
    void unmerge();

    /** {@return whether the adapter is currently merged} */
    boolean isMerged();

    /** Removes the adapter from the model, restoring modules no other adapter uses. */
    void detach();

    /**
     * This adapter as a method's own type, looking through what PeftModel wraps around it (its
     * {@code modules_to_save}); empty when it is not one.
     *
     * @param <T> the wanted type
     * @param type the wanted type's class
     * @return this adapter as {@code type}, or empty
     */
    default <T extends Adapter> Optional<T> as(Class<T> type) {
        return type.isInstance(this) ? Optional.of(type.cast(this)) : Optional.empty();
    }
}
