package io.peft4j.core.spi;

import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What every method's {@link Adapter} holds and does the same way: its context, config and name,
 * and the order of a {@link #load}: keys read as {@link #canonicalKey}, every tensor checked
 * against {@link #tensorSpecs()} ({@link AdapterTensors#check}), then the method's own checks of
 * the values ({@link #checkValues}), and only when all pass the values copied in ({@link #copyIn}).
 * Nothing is copied from a file that does not fit.
 *
 * @param <C> the method's config type
 */
public abstract class AbstractAdapter<C extends AdapterConfig> implements Adapter {

    /** The model and runtime this adapter is attached to. */
    protected final AdapterContext ctx;

    /** The adapter's configuration. */
    protected final C config;

    private final String name;

    /**
     * An adapter of {@code config} named {@code name} on the model of {@code ctx}.
     *
     * @param ctx the model and runtime to attach to
     * @param config the adapter's configuration
     * @param name the adapter's name
     */
    protected AbstractAdapter(AdapterContext ctx, C config, String name) {
        this.ctx = Objects.requireNonNull(ctx, "ctx");
        this.config = Objects.requireNonNull(config, "config");
        this.name = Objects.requireNonNull(name, "name");
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

    /**
     * Checks {@code tensors} (names, types, shapes, finiteness, then the method's own rules) and
     * only then copies them in.
     *
     * @param tensors the tensors by file key
     * @throws IllegalArgumentException naming every problem found, before anything is copied
     */
    @Override
    public void load(Map<String, NDArray> tensors) {
        Map<String, NDArray> byKey = new LinkedHashMap<>();
        tensors.forEach((k, v) -> byKey.put(canonicalKey(k), v));
        String what = describe();
        AdapterTensors.check(what, tensorSpecs(), byKey);
        List<String> problems = new ArrayList<>();
        checkValues(byKey, problems);
        AdapterTensors.refuseIfAny(what, problems);
        copyIn(byKey);
    }

    /**
     * The adapter as load errors name it.
     *
     * @return e.g. {@code adapter 'default'}
     */
    protected String describe() {
        return "adapter '" + name + "'";
    }

    /**
     * The method's own checks of a file's values, run once names, types and shapes are known to fit
     * (index tables in range, a fingerprint of the base model); none by default.
     *
     * @param tensors the tensors by key, as {@link #tensorSpecs()} names them
     * @param problems where to add each problem found, naming the tensor
     */
    protected void checkValues(Map<String, NDArray> tensors, List<String> problems) {}

    /**
     * Copies checked tensors into the adapter; by default every {@link #parameters()} entry.
     *
     * @param tensors the checked tensors by key, as {@link #tensorSpecs()} names them
     */
    protected void copyIn(Map<String, NDArray> tensors) {
        parameters().forEach((k, p) -> AdapterTensors.copy(tensors.get(k), p.getArray()));
    }
}
