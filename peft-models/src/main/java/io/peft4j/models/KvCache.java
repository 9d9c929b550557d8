package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * Keys and values of the tokens a decoder has already seen, per layer, plus their attention mask.
 * Owns its arrays (in its own sub-manager); close it when the generation is done.
 */
public final class KvCache implements AutoCloseable {

    private final NDManager manager;
    private final NDArray[] keys;
    private final NDArray[] values;
    private NDArray mask;
    private long length;

    private KvCache(NDManager parent, int numLayers) {
        this.manager = parent.newSubManager();
        this.keys = new NDArray[numLayers];
        this.values = new NDArray[numLayers];
    }

    /**
     * @param parent manager on the model's device; the cache makes a sub-manager of it
     * @param numLayers number of decoder layers
     * @return an empty cache
     */
    public static KvCache create(NDManager parent, int numLayers) {
        return new KvCache(parent, numLayers);
    }

    /**
     * @return number of cached positions
     */
    public long length() {
        return length;
    }

    /**
     * @return (B, length) mask of the cached positions, or null when empty
     */
    public NDArray mask() {
        return mask;
    }

    NDArray key(int layer) {
        return keys[layer];
    }

    NDArray value(int layer) {
        return values[layer];
    }

    int numLayers() {
        return keys.length;
    }

    void update(int layer, NDArray key, NDArray value) {
        replace(keys, layer, key);
        replace(values, layer, value);
    }

    void setMask(NDArray newMask) {
        newMask.attach(manager);
        if (mask != null && mask != newMask) {
            mask.close();
        }
        mask = newMask;
        length = newMask.getShape().get(1);
    }

    private void replace(NDArray[] slots, int layer, NDArray array) {
        array.attach(manager);
        if (slots[layer] != null && slots[layer] != array) {
            slots[layer].close();
        }
        slots[layer] = array;
    }

    @Override
    public void close() {
        manager.close();
    }
}
