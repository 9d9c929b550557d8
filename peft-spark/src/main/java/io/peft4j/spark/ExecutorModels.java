package io.peft4j.spark;

import ai.djl.engine.Engine;
import io.peft4j.core.PeftModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The models an executor serves, loaded once per JVM and key (model key plus adapters) and kept for
 * the executor's life: every task of every inference job on that executor shares them. PeftModel's
 * inference is thread-safe with per-call adapter selection, so tasks run side by side.
 */
final class ExecutorModels {

    /** A base model with named adapters loaded, ready for mixed-batch inference. */
    record Served(LoadedModel model, PeftModel peft) {}

    private static final Map<String, Served> CACHE = new ConcurrentHashMap<>();
    private static final AtomicInteger LOADS = new AtomicInteger();

    private ExecutorModels() {}

    static Served get(ModelSource source, Map<String, String> adapters) {
        String key = source.key() + " + " + adapters;
        // computeIfAbsent holds the key's bin while loading: concurrent tasks wait for one load
        return CACHE.computeIfAbsent(key, k -> load(source, adapters));
    }

    private static Served load(ModelSource source, Map<String, String> adapters) {
        LOADS.incrementAndGet();
        LoadedModel model = source.load(Engine.getInstance().defaultDevice());
        PeftModel peft = null;
        try {
            Map.Entry<String, String> first = adapters.entrySet().iterator().next();
            // PeftModel.load names the first adapter "default"; the others are added by name
            peft = PeftModel.load(model.block(), Path.of(first.getValue()));
            for (Map.Entry<String, String> a : adapters.entrySet()) {
                if (!a.getKey().equals(PeftModel.DEFAULT_ADAPTER)) {
                    peft.loadAdapter(Path.of(a.getValue()), a.getKey());
                }
            }
            for (String name : new ArrayList<>(peft.adapterNames())) {
                if (!adapters.containsKey(name)) {
                    peft.deleteAdapter(name);
                }
            }
            return new Served(model, peft);
        } catch (IOException | RuntimeException e) {
            if (peft != null) {
                peft.close();
            }
            model.close();
            if (e instanceof IOException) {
                throw new UncheckedIOException(
                        "cannot load the adapters " + adapters + " onto " + source.key(),
                        (IOException) e);
            }
            throw (RuntimeException) e;
        }
    }

    /** Model loads in this JVM so far (tests check that each executor loads once). */
    static int loads() {
        return LOADS.get();
    }

    /** Closes and forgets every cached model (tests). */
    static synchronized void clear() {
        for (Served s : new ArrayList<>(CACHE.values())) {
            s.peft().close();
            s.model().close();
        }
        CACHE.clear();
    }
}
