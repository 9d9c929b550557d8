package io.peft4j.shadow;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import io.peft4j.core.model.LayerStack;
import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.Selection;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What the shadow wrappers of one model share: the adapters by name, and the per-thread state of
 * the forward pass in flight (the shadow state s of each running adapter, carried from layer to
 * layer). Per thread, so several threads can run the model at once.
 *
 * <p>Generation with a KV cache: the base layers see only the new tokens, and the shadow network
 * has no KV cache of its own. In inference passes over a decoder, layer 0 keeps a copy of its input
 * and context (embeddings, mask bias, rotary tables) per thread; a cached pass (keys longer than
 * queries) appends the new tokens to that copy and reruns the shadow network over the whole
 * sequence, using the last positions. Cost per generated token: the shadow's layers over all {@code
 * S} tokens ({@code O(S)} MLP, {@code O(S^2)} attention) instead of one token.
 */
final class ShadowHub {

    /** The forward pass in flight on one thread. */
    static final class Frame {
        final Map<String, NDArray> state = new LinkedHashMap<>();
        Map<String, NDArray> initial;
    }

    /** A decoder's layer-0 inputs so far, for cached generation. */
    record History(NDManager manager, NDArray hidden, NDArray bias, NDArray cos, NDArray sin) {
        long length() {
            return hidden.getShape().get(1);
        }
    }

    final LayerStack stack;
    final String stackPath;
    final AdapterRuntime runtime;
    final NDManager manager;
    final Map<String, ShadowWeights> adapters = new ConcurrentHashMap<>();
    final List<ShadowLayer> layers = new ArrayList<>();

    // Per hub (one per adapter) and per thread: instance fields on purpose.
    @SuppressWarnings("ThreadLocalUsage")
    private final ThreadLocal<Frame> frames = new ThreadLocal<>();

    @SuppressWarnings("ThreadLocalUsage")
    private final ThreadLocal<Boolean> capture = new ThreadLocal<>();

    private final Map<Thread, History> histories = new ConcurrentHashMap<>();

    ShadowHub(LayerStack stack, String stackPath, AdapterRuntime runtime, NDManager manager) {
        this.stack = stack;
        this.stackPath = stackPath;
        this.runtime = runtime;
        this.manager = manager;
    }

    /** The adapters of this hub that the selection runs, in a stable order. */
    List<String> running(Selection selection) {
        List<String> names = new ArrayList<>();
        if (selection.isNone()) {
            return names;
        }
        if (!selection.isPerSample()) {
            if (adapters.containsKey(selection.single())) {
                names.add(selection.single());
            }
            return names;
        }
        for (String n : new LinkedHashSet<>(List.of(selection.perSample()))) {
            if (adapters.containsKey(n)) {
                names.add(n);
            }
        }
        return names;
    }

    Frame frame() {
        return frames.get();
    }

    void endFrame() {
        Frame f = frames.get();
        if (f != null && f.initial == null) {
            frames.remove();
        }
    }

    /**
     * Asks the next forward on this thread to keep s0 of each running adapter until {@link
     * #takeInitial}.
     */
    void requestInitial() {
        capture.set(Boolean.TRUE);
    }

    /**
     * s0 per adapter of the last forward on this thread (after {@link #requestInitial}); clears it.
     */
    Map<String, NDArray> takeInitial() {
        capture.remove();
        Frame f = frames.get();
        frames.remove();
        return f == null || f.initial == null ? Map.of() : f.initial;
    }

    void cancelInitial() {
        capture.remove();
        frames.remove();
    }

    /** Runs at layer 0: computes s0 for every running adapter and opens the thread's frame. */
    void begin(
            ParameterStore ps,
            NDArray hidden,
            NDList context,
            boolean training,
            List<String> names) {
        Frame frame = new Frame();
        long queryLen = hidden.getShape().get(1);
        NDArray bias = context.isEmpty() ? null : context.get(0);
        long keyLen =
                bias == null ? queryLen : bias.getShape().get(bias.getShape().dimension() - 1);
        long past = keyLen - queryLen;
        boolean decoder = context.size() >= 3;
        if (past > 0) {
            // A cached step: rebuild the whole sequence's inputs and rerun the shadow over it.
            History h = histories.get(Thread.currentThread());
            if (!decoder || h == null || h.length() != past) {
                throw new IllegalStateException(
                        "ShadowPEFT got a cached forward ("
                                + past
                                + " past tokens) but this thread"
                                + " holds "
                                + (h == null
                                        ? "no shadow history"
                                        : "a shadow history of " + h.length() + " tokens")
                                + "; the shadow path has no KV cache of its own: start the sequence with an uncached inference"
                                + " forward on this thread (as Generator does)");
            }
            NDArray fullHidden = h.hidden().concat(hidden, 1);
            NDArray fullCos =
                    broadcastBatch(h.cos(), context.get(1))
                            .concat(broadcastBatch(context.get(1), h.cos()), 2);
            NDArray fullSin =
                    broadcastBatch(h.sin(), context.get(2))
                            .concat(broadcastBatch(context.get(2), h.sin()), 2);
            NDArray oldRows =
                    h.bias()
                            .concat(
                                    h.bias()
                                            .getManager()
                                            .full(
                                                    new Shape(
                                                            h.bias().getShape().get(0),
                                                            1,
                                                            past,
                                                            queryLen),
                                                    Tensors.maskValue(h.bias().getDataType()),
                                                    h.bias().getDataType()),
                                    3);
            NDArray fullBias =
                    broadcastBatch(oldRows, bias).concat(broadcastBatch(bias, oldRows), 2);
            NDList fullContext = new NDList(fullBias, fullCos, fullSin);
            // Results of ops on the history live in its manager, which remember() closes: move them
            // into this forward's scope (the history's temporaries go with its manager).
            fullHidden.attach(hidden.getManager());
            fullContext.attach(hidden.getManager());
            for (String name : names) {
                NDArray s = adapters.get(name).initial(ps, fullHidden, fullContext, training);
                frame.state.put(name, s.get(":, " + past + ":, :"));
            }
            if (!training) {
                remember(fullHidden, fullBias, fullCos, fullSin);
            }
        } else {
            for (String name : names) {
                frame.state.put(name, adapters.get(name).initial(ps, hidden, context, training));
            }
            if (!training && decoder) {
                remember(hidden, bias, context.get(1), context.get(2));
            }
        }
        if (Boolean.TRUE.equals(capture.get())) {
            frame.initial = new LinkedHashMap<>(frame.state);
        }
        frames.set(frame);
    }

    private static NDArray broadcastBatch(NDArray a, NDArray other) {
        long b = Math.max(a.getShape().get(0), other.getShape().get(0));
        if (a.getShape().get(0) == b) {
            return a;
        }
        Shape s = a.getShape();
        long[] dims = s.getShape().clone();
        dims[0] = b;
        return a.broadcast(new Shape(dims));
    }

    private void remember(NDArray hidden, NDArray bias, NDArray cos, NDArray sin) {
        NDManager m = manager.newSubManager(hidden.getDevice());
        History h = new History(m, copy(hidden, m), copy(bias, m), copy(cos, m), copy(sin, m));
        History old = histories.put(Thread.currentThread(), h);
        if (old != null) {
            old.manager().close();
        }
    }

    private static NDArray copy(NDArray a, NDManager m) {
        NDArray c = a.stopGradient().duplicate();
        c.attach(m);
        return c;
    }

    /** Frees the generation histories (on detach of the last adapter). */
    void clearHistories() {
        for (History h : histories.values()) {
            h.manager().close();
        }
        histories.clear();
    }
}
