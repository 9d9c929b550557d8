package io.peft4j.core.tree;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import java.util.function.ToLongFunction;

/** What the embedding stand-ins share. */
final class StandIns {

    private StandIns() {}

    /** The block under {@code b}'s adapter wrappers ({@code b} itself when it is none). */
    static Block wrapped(Block b) {
        Block inner = b;
        while (inner instanceof AdapterWrapper w) {
            inner = w.baseLayer();
        }
        return inner;
    }

    /**
     * The rows of {@code items} through {@code target}'s forward pass (adapter included): each
     * item's index from the original embedding's {@code index}, then one inference forward.
     */
    static <T> NDArray embedItems(
            Block target, NDManager manager, T[] items, ToLongFunction<T> index) {
        long[] ids = new long[items.length];
        for (int i = 0; i < items.length; i++) {
            ids[i] = index.applyAsLong(items[i]);
        }
        return target.forward(
                        new ParameterStore(manager, false), new NDList(manager.create(ids)), false)
                .head();
    }
}
