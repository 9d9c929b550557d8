package io.peft4j.core.spi;

import java.util.List;

/**
 * An {@link Adapter} that lives in module wrappers (one {@link AdapterLayer} entry per targeted
 * module): what every such adapter holds and answers the same way, its context, config, name and
 * layers. A method's adapter extends it and adds what the method keeps beyond its entries (shard
 * pools, dictionaries, masks) and how it merges.
 *
 * @param <L> the method's wrapper type
 * @param <E> the method's entry type (one adapter's tensors in one wrapper)
 * @param <C> the method's config type
 */
public abstract class LayeredAdapter<
                L extends AdapterLayer<E>, E extends AdapterLayer.Entry, C extends AdapterConfig>
        implements Adapter {

    /** The model and runtime this adapter is attached to. */
    protected final AdapterContext ctx;

    /** The adapter's configuration. */
    protected final C config;

    /** The wrappers this adapter has an entry in, by module path. */
    protected final AdapterLayers<L, E> layers;

    private final String name;

    /**
     * Creates an adapter with no entries yet (the method's injector adds them).
     *
     * @param ctx the model and runtime to attach to
     * @param config the adapter's configuration
     * @param name the adapter's name
     */
    protected LayeredAdapter(AdapterContext ctx, C config, String name) {
        this.ctx = ctx;
        this.config = config;
        this.name = name;
        this.layers = new AdapterLayers<>(ctx, name);
    }

    /** {@inheritDoc} */
    @Override
    public final String name() {
        return name;
    }

    /** {@inheritDoc} */
    @Override
    public C config() {
        return config;
    }

    /** {@return the module paths this adapter lives in, in model order} */
    public List<String> paths() {
        return layers.paths();
    }
}
