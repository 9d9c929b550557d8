package io.peft4j.core.spi;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Block;
import io.peft4j.core.ops.Finite;
import io.peft4j.core.tree.AdapterWrapper;
import io.peft4j.core.tree.ModuleNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The layers that hold one adapter, by module path in model order: what a method's {@link Adapter}
 * keeps and loops over. It puts the adapter into a module (wrapping it the first time), visits each
 * layer with the adapter's entry there, merges all or nothing, and takes the adapter out again,
 * putting back every module no other adapter uses. Only what every method does the same way is
 * here; how a weight is merged or unmerged stays with the method.
 *
 * @param <L> the method's layer type
 * @param <E> its per-adapter entry type
 */
public final class AdapterLayers<L extends AdapterLayer<E>, E extends AdapterLayer.Entry> {

    /** What a loop sees of one layer: its module path, the layer, and the adapter's entry there. */
    @FunctionalInterface
    public interface Visitor<L, E> {

        /**
         * Called once per layer, in model order.
         *
         * @param path the module's path
         * @param layer the layer at {@code path}
         * @param entry the adapter's entry in {@code layer}
         */
        void visit(String path, L layer, E entry);
    }

    /** Computes the merged base weight of one layer. */
    @FunctionalInterface
    public interface MergedWeight<L, E> {

        /**
         * A new array: the layer's base weight with the adapter folded in.
         *
         * @param path the module's path
         * @param layer the layer at {@code path}
         * @param entry the adapter's entry in {@code layer}
         * @return the merged weight
         */
        NDArray compute(String path, L layer, E entry);
    }

    /** Writes one layer's checked merged weight in and marks its entry merged. */
    @FunctionalInterface
    public interface Install<L, E> {

        /**
         * Called once per layer after every merged weight was found finite.
         *
         * @param layer the layer to write
         * @param entry the adapter's entry in {@code layer}
         * @param merged the merged weight computed for {@code layer}
         */
        void install(L layer, E entry, NDArray merged);
    }

    private final AdapterContext ctx;
    private final String adapter;
    private final Map<String, L> layers = new LinkedHashMap<>();

    /**
     * No layers yet for adapter {@code adapter} of the model in {@code ctx}.
     *
     * @param ctx the context of the model
     * @param adapter the adapter's name
     */
    public AdapterLayers(AdapterContext ctx, String adapter) {
        this.ctx = ctx;
        this.adapter = adapter;
    }

    /**
     * The wrapper of type {@code type} at {@code node} (it holds earlier adapters of the same
     * method), or {@code null} when the node is a plain module.
     *
     * @param <W> the wrapper type
     * @param node the module to look at
     * @param type the wrapper class of this method
     * @return the wrapper, or {@code null}
     * @throws IllegalArgumentException when another method's wrapper is there: one method per
     *     module
     */
    public static <W extends Block> W wrapperAt(ModuleNode node, Class<W> type) {
        Block b = node.block();
        if (type.isInstance(b)) {
            return type.cast(b);
        }
        if (b instanceof AdapterWrapper) {
            throw new IllegalArgumentException(
                    "Module '"
                            + node.path()
                            + "' already carries an adapter of another method ("
                            + b.getClass().getSimpleName()
                            + "); one method per module");
        }
        return null;
    }

    /**
     * Puts the adapter into the module at {@code node}: into the wrapper of type {@code type}
     * already there, or into a new one from {@code wrap}, which then takes the module's place. The
     * entry is made by {@code create} once the layer is known, and added before the module is
     * replaced, so that a failure leaves no wrapper in the model without its adapter. Call {@link
     * #detach()} to roll back a failed attach.
     *
     * @param node the module to put the adapter in
     * @param type the layer class of this method
     * @param wrap makes a new layer around the module
     * @param create makes the adapter's entry for the layer
     * @return the layer
     */
    public L attach(
            ModuleNode node,
            Class<L> type,
            Function<Block, ? extends L> wrap,
            Function<? super L, ? extends E> create) {
        L layer = type.isInstance(node.block()) ? type.cast(node.block()) : null;
        boolean fresh = layer == null;
        if (fresh) {
            layer = wrap.apply(node.block());
        }
        layer.add(adapter, create.apply(layer));
        layers.put(node.path(), layer);
        if (fresh) {
            ctx.replace(node, layer);
        }
        return layer;
    }

    /**
     * The layer at {@code path}, or {@code null} when the adapter is not there.
     *
     * @param path the module path
     * @return the layer, or {@code null}
     */
    public L layer(String path) {
        return layers.get(path);
    }

    /**
     * The adapter's entry in the layer at {@code path}, or {@code null} when it is not there.
     *
     * @param path the module path
     * @return the entry, or {@code null}
     */
    public E entry(String path) {
        L layer = layers.get(path);
        return layer == null ? null : layer.entry(adapter);
    }

    /** {@return the layers by module path, in model order (a read-only view)} */
    public Map<String, L> byPath() {
        return Collections.unmodifiableMap(layers);
    }

    /** {@return the module paths, in model order (a copy)} */
    public List<String> paths() {
        return new ArrayList<>(layers.keySet());
    }

    /**
     * Visits every layer with the adapter's entry there, in model order.
     *
     * @param visitor called with each layer and entry
     */
    public void forEach(Visitor<? super L, ? super E> visitor) {
        layers.forEach((path, layer) -> visitor.visit(path, layer, layer.entry(adapter)));
    }

    /**
     * Visits the layers where the adapter is merged, in model order.
     *
     * @param visitor called with each merged layer and entry
     */
    public void forEachMerged(Visitor<? super L, ? super E> visitor) {
        layers.forEach(
                (path, layer) -> {
                    E entry = layer.entry(adapter);
                    if (entry != null && entry.merged()) {
                        visitor.visit(path, layer, entry);
                    }
                });
    }

    /** {@return whether the adapter is merged in any of its layers} */
    public boolean anyMerged() {
        for (L layer : layers.values()) {
            E entry = layer.entry(adapter);
            if (entry != null && entry.merged()) {
                return true;
            }
        }
        return false;
    }

    /**
     * Merges the adapter all or nothing, as {@link Adapter#merge()} asks: computes every layer's
     * merged weight first and checks that it is finite; only when all are does {@code install}
     * write them in. A NaN or Inf anywhere leaves every weight untouched. No-op when the adapter is
     * already merged. The computed arrays are closed once installed (or on failure).
     *
     * @param what the adapter as the error names it ({@code adapter}, {@code MoS adapter})
     * @param compute computes a layer's merged weight
     * @param install writes the merged weights in
     * @throws ArithmeticException naming the first module whose merged weight is not finite
     */
    public void mergeAllOrNothing(
            String what,
            MergedWeight<? super L, ? super E> compute,
            Install<? super L, ? super E> install) {
        if (anyMerged()) {
            return;
        }
        Map<L, NDArray> merged = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, L> e : layers.entrySet()) {
                L layer = e.getValue();
                NDArray updated = compute.compute(e.getKey(), layer, layer.entry(adapter));
                merged.put(layer, updated);
                if (!Finite.all(updated)) {
                    throw new ArithmeticException(
                            "Merging "
                                    + what
                                    + " '"
                                    + adapter
                                    + "' into '"
                                    + e.getKey()
                                    + "."
                                    + layer.baseWeight().getName()
                                    + "' would produce NaN or Inf; weights left untouched");
                }
            }
            for (Map.Entry<L, NDArray> e : merged.entrySet()) {
                install.install(e.getKey(), e.getKey().entry(adapter), e.getValue());
            }
        } finally {
            merged.values().forEach(NDArray::close);
        }
    }

    /**
     * {@link #mergeAllOrNothing(String, MergedWeight, Install)} for a method whose merged weight is
     * all there is to install: it is copied into each layer's base weight.
     *
     * @param what the adapter as the error names it ({@code adapter}, {@code MoS adapter})
     * @param compute computes a layer's merged weight
     * @throws ArithmeticException naming the first module whose merged weight is not finite
     */
    public void mergeAllOrNothing(String what, MergedWeight<? super L, ? super E> compute) {
        mergeAllOrNothing(
                what,
                compute,
                (layer, entry, merged) -> {
                    merged.copyTo(layer.baseWeight().getArray());
                    entry.setMerged(true);
                });
    }

    /**
     * Takes the adapter back out of every layer where it is merged, in model order: {@code restore}
     * puts the layer's base weight back, then the entry is marked unmerged.
     *
     * @param restore undoes one layer's merge
     */
    public void unmergeAll(Visitor<? super L, ? super E> restore) {
        forEachMerged(
                (path, layer, entry) -> {
                    restore.visit(path, layer, entry);
                    entry.setMerged(false);
                });
    }

    /**
     * Takes the adapter out of every layer (each layer releases its entry) and puts back every
     * module whose wrapper holds no adapter any more; then forgets the layers.
     */
    public void detach() {
        for (L layer : layers.values()) {
            layer.remove(adapter);
            if (!layer.hasAdapters()) {
                ctx.restore(layer);
            }
        }
        layers.clear();
    }

    /**
     * The error for a target a method cannot adapt, naming the module, its class and what the
     * method supports.
     *
     * @param node the target
     * @param supported what the method supports, e.g. {@code LoRA supports ai.djl.nn.core.Linear}
     * @return the exception to throw
     */
    public static IllegalArgumentException unsupportedTarget(ModuleNode node, String supported) {
        return new IllegalArgumentException(
                "Target module '"
                        + node.path()
                        + "' is a "
                        + node.block().getClass().getName()
                        + "; "
                        + supported
                        + ". Narrow target_modules.");
    }

    /**
     * Checks that a target a method wraps as a linear layer is one: a DJL {@link
     * ai.djl.nn.core.Linear} with an initialised, 2-D, floating-point weight. (A target that
     * already holds the method's wrapper is checked by the caller before this.)
     *
     * @param node the target
     * @param method the method's name, for the message (e.g. {@code "LoRA"})
     * @return the target's weight
     * @throws IllegalArgumentException naming the module, what it is and what was expected
     */
    public static ai.djl.nn.Parameter requireLinear(ModuleNode node, String method) {
        ai.djl.nn.Block b = node.block();
        if (!(b instanceof ai.djl.nn.core.Linear)) {
            throw unsupportedTarget(node, method + " supports ai.djl.nn.core.Linear");
        }
        ai.djl.nn.Parameter w = b.getDirectParameters().get("weight");
        if (!w.isInitialized() || w.getArray().getShape().dimension() != 2) {
            throw new IllegalArgumentException(
                    "Target module '"
                            + node.path()
                            + "' has no initialized 2-D weight; initialize the model first");
        }
        if (!w.getArray().getDataType().isFloating()) {
            throw new IllegalArgumentException(
                    "Target module '"
                            + node.path()
                            + "' has a "
                            + w.getArray().getDataType()
                            + " weight; "
                            + method
                            + " needs floating point");
        }
        return w;
    }
}
