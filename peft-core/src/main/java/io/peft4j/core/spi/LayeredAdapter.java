package io.peft4j.core.spi;

import java.util.List;
import java.util.function.Consumer;

/**
 * An {@link Adapter} that lives in module wrappers (one {@link AdapterLayer} entry per targeted
 * module): on top of what every adapter holds ({@link AbstractAdapter}), its layers, and what it
 * answers the same way from them: its paths, whether it is merged, and how it leaves the model. A
 * method's adapter extends it and adds what the method keeps beyond its entries (shard pools,
 * dictionaries, masks) and how it merges.
 *
 * @param <L> the method's wrapper type
 * @param <E> the method's entry type (one adapter's tensors in one wrapper)
 * @param <C> the method's config type
 */
public abstract class LayeredAdapter<
                L extends AdapterLayer<E>, E extends AdapterLayer.Entry, C extends AdapterConfig>
        extends AbstractAdapter<C> {

    /** The wrappers this adapter has an entry in, by module path. */
    protected final AdapterLayers<L, E> layers;

    /**
     * Creates an adapter with no entries yet (the method's injector adds them).
     *
     * @param ctx the model and runtime to attach to
     * @param config the adapter's configuration
     * @param name the adapter's name
     */
    protected LayeredAdapter(AdapterContext ctx, C config, String name) {
        super(ctx, config, name);
        this.layers = new AdapterLayers<>(ctx, name);
    }

    /**
     * Runs an injector's attaching of a new adapter to its targets; if that throws, detaches what
     * was attached (modules no other adapter uses are put back) and rethrows, so a failed inject
     * leaves the model as it found it.
     *
     * @param <A> the adapter type
     * @param adapter the new adapter, with no entries yet
     * @param attachAll puts the adapter into every target (through its {@link AdapterLayers})
     * @return {@code adapter}, attached
     */
    public static <A extends LayeredAdapter<?, ?, ?>> A rollBackOnFailure(
            A adapter, Consumer<? super A> attachAll) {
        try {
            attachAll.accept(adapter);
            return adapter;
        } catch (RuntimeException e) {
            adapter.detach();
            throw e;
        }
    }

    /** {@return the module paths this adapter lives in, in model order} */
    public List<String> paths() {
        return layers.paths();
    }

    /** {@inheritDoc} */
    @Override
    public boolean isMerged() {
        return layers.anyMerged();
    }

    /**
     * Takes the adapter out of every layer (each releases its entry; modules no other adapter uses
     * are put back), then frees what the adapter shares between its layers ({@link
     * #closeShared()}).
     */
    @Override
    public final void detach() {
        layers.detach();
        closeShared();
    }

    /**
     * Frees what the adapter holds beyond its layers' entries (tensors several layers share, such
     * as pools or dictionaries), once every layer has released its entry; nothing by default.
     */
    protected void closeShared() {}
}
