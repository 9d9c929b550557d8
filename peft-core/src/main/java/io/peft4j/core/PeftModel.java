package io.peft4j.core;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;

import com.google.common.base.Preconditions;

import io.peft4j.core.spi.Adapter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.PeftMethod;
import io.peft4j.core.spi.Selection;
import io.peft4j.core.train.TrainableModel;
import io.peft4j.core.model.TiedParameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A DJL model with parameter-efficient adapters: the one entry point of peft4j.
 *
 * <pre>{@code
 * PeftModel peft = PeftModel.wrap(block, LoraConfig.builder().rank(8).targets("q_proj", "v_proj").build());
 * System.out.println(peft.trainableSummary());
 * ... train peft.trainableParameters() ...
 * peft.save(dir);                       // adapter_config.json + adapter_model.safetensors
 * }</pre>
 *
 * <p>Wrapping freezes every base parameter and installs the adapter in place: the base block's
 * own {@code forward} runs the adapter from then on. Several named adapters can live side by
 * side; one is active. {@link #disableAdapters()} gives exactly the base model inside its scope.
 * {@link #unload()} and {@link #close()} put the original modules back.
 */
public final class PeftModel implements TrainableModel, AutoCloseable {

    static {
        // before this class's first GEMM: MKL keeps the code path it picks at its first call
        io.peft4j.core.engine.MklCpuDispatch.install();
    }

    /** The name of the adapter created by {@link #wrap(Block, AdapterConfig)}. */
    public static final String DEFAULT_ADAPTER = "default";

    private static final Pattern ADAPTER_NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.\\-]{0,127}");

    private final Block base;
    private final NDManager manager;
    private final AdapterRuntime runtime = new AdapterRuntime();
    private final AdapterContext context;
    private final Map<String, Adapter> adapters = new LinkedHashMap<>();
    private final Map<Parameter, Boolean> frozenBaseParameters = new IdentityHashMap<>();
    private String baseModelName;

    private PeftModel(Block base, Device device) {
        this.base = base;
        this.manager = NDManager.newBaseManager(device);
        this.context = new AdapterContext(base, manager, runtime);
        for (Pair<String, Parameter> p : base.getParameters()) {
            Parameter parameter = p.getValue();
            frozenBaseParameters.put(parameter, parameter.requiresGradient());
            if (parameter.isInitialized()) {
                parameter.freeze(true);
            }
        }
    }

    /** Wraps {@code base} with one adapter named {@value #DEFAULT_ADAPTER}. */
    public static PeftModel wrap(Block base, AdapterConfig config) {
        return wrap(base, config, DEFAULT_ADAPTER);
    }

    /** Wraps {@code model}'s block with one adapter named {@value #DEFAULT_ADAPTER}. */
    public static PeftModel wrap(Model model, AdapterConfig config) {
        return wrap(model.getBlock(), config, DEFAULT_ADAPTER);
    }

    /** Wraps {@code base} with one adapter named {@code name}, on the base weights' device. */
    public static PeftModel wrap(Block base, AdapterConfig config, String name) {
        return wrap(base, config, name, deviceOf(base));
    }

    /**
     * Wraps {@code base} with one adapter named {@code name}; adapter tensors live on {@code
     * device}, which must be where the base weights are.
     */
    public static PeftModel wrap(Block base, AdapterConfig config, String name, Device device) {
        Device weights = deviceOf(base);
        Preconditions.checkArgument(
                weights.equals(device),
                "The base model's weights are on %s but the adapter was asked for %s; move the"
                        + " model first",
                weights,
                device);
        PeftModel peft = new PeftModel(base, device);
        try {
            peft.addAdapter(name, config);
        } catch (RuntimeException e) {
            peft.close();
            throw e;
        }
        return peft;
    }

    /**
     * Loads the adapter saved in {@code dir} onto {@code base} as {@value #DEFAULT_ADAPTER}, and
     * every adapter saved in a sub-folder of {@code dir} under the sub-folder's name (the layout
     * {@link #save(Path)} and Hugging Face peft write).
     */
    public static PeftModel load(Block base, Path dir) throws IOException {
        PeftModel peft = new PeftModel(base, deviceOf(base));
        try {
            peft.loadAdapter(dir, DEFAULT_ADAPTER);
            for (Path sub : AdapterFiles.namedAdapterFolders(dir)) {
                peft.loadAdapter(sub, sub.getFileName().toString());
            }
            peft.setActiveAdapter(DEFAULT_ADAPTER);
        } catch (IOException | RuntimeException e) {
            peft.close();
            throw e;
        }
        return peft;
    }

    private static Device deviceOf(Block block) {
        for (Pair<String, Parameter> p : block.getParameters()) {
            if (p.getValue().isInitialized()) {
                return p.getValue().getArray().getDevice();
            }
        }
        throw new IllegalArgumentException(
                "The base block has no initialized parameters: initialize or load it before"
                        + " wrapping it with adapters");
    }

    // ---------------------------------------------------------------- adapters

    /**
     * Adds an adapter. A failed add leaves the model as it was. The first adapter becomes active;
     * later ones are added inactive (and frozen).
     */
    public synchronized void addAdapter(String name, AdapterConfig config) {
        checkName(name);
        Preconditions.checkArgument(
                !adapters.containsKey(name), "An adapter named '%s' already exists", name);
        PeftMethod method = PeftMethods.forConfig(config);
        Adapter attached = method.attach(context, config, name);
        Adapter adapter;
        try {
            adapter = WithModulesToSave.attach(attached, context);
        } catch (RuntimeException e) {
            attached.detach();
            throw e;
        }
        adapters.put(name, adapter);
        if (runtime.activeAdapter() == null) {
            setActiveAdapter(name);
        } else {
            setTrainable(adapter, false);
        }
    }

    /**
     * Loads an adapter saved in {@code dir} (HF peft layout) under {@code name}. The model is left
     * unchanged when this fails.
     *
     * @throws IOException when a file is missing, unreadable or malformed (the message names it)
     * @throws IllegalArgumentException when the adapter does not fit the model (names the file,
     *     tensor or target and what was expected)
     */
    public synchronized void loadAdapter(Path dir, String name) throws IOException {
        checkName(name);
        AdapterFiles.Loaded loaded = AdapterFiles.readConfig(dir);
        try {
            addAdapter(name, loaded.config());
        } catch (IllegalArgumentException e) {
            // e.g. targets that match nothing in this model: say which saved adapter it was
            throw new IllegalArgumentException(dir.resolve(AdapterFiles.CONFIG_FILE) + " does not fit this model: " + e.getMessage(), e);
        }
        Adapter adapter = adapters.get(name);
        try {
            AdapterFiles.readTensors(dir, adapter, manager);
        } catch (IOException | RuntimeException e) {
            deleteAdapter(name);
            throw e;
        }
    }

    /** Removes an adapter; the modules no other adapter uses are restored. */
    public synchronized void deleteAdapter(String name) {
        Adapter adapter = adapter(name);
        if (adapter.isMerged()) {
            adapter.unmerge();
        }
        adapter.detach();
        adapters.remove(name);
        if (name.equals(runtime.activeAdapter())) {
            String next = adapters.isEmpty() ? null : adapters.keySet().iterator().next();
            runtime.setActiveAdapter(null);
            if (next != null) {
                setActiveAdapter(next);
            }
        }
    }

    /** Makes {@code name} the active adapter: it runs in forward and its tensors are trainable. */
    public synchronized void setActiveAdapter(String name) {
        Adapter active = adapter(name);
        for (Adapter a : adapters.values()) {
            setTrainable(a, a == active);
        }
        runtime.setActiveAdapter(name);
    }

    private static void setTrainable(Adapter adapter, boolean trainable) {
        for (Parameter p : adapter.parameters().values()) {
            p.freeze(!trainable);
        }
    }

    /** The active adapter's name, or {@code null} when there is none. */
    public String activeAdapter() {
        return runtime.activeAdapter();
    }

    /** Names of all adapters, in the order they were added. */
    public synchronized Set<String> adapterNames() {
        return Collections.unmodifiableSet(new java.util.LinkedHashSet<>(adapters.keySet()));
    }

    /** The adapter named {@code name}. */
    public synchronized Adapter adapter(String name) {
        Adapter a = adapters.get(name);
        if (a == null) {
            throw new IllegalArgumentException(
                    "No adapter named '" + name + "'; adapters: " + adapters.keySet());
        }
        return a;
    }

    /** The config of adapter {@code name}. */
    public AdapterConfig config(String name) {
        return adapter(name).config();
    }

    private static void checkName(String name) {
        Preconditions.checkArgument(
                name != null && ADAPTER_NAME.matcher(name).matches() && !name.contains(".."),
                "Adapter name '%s' is not allowed: use letters, digits, '_', '-', '.' (no path"
                        + " separators, no '..', at most 128 characters)",
                name);
        Preconditions.checkArgument(
                !Selection.BASE.equals(name), "'%s' is reserved for 'no adapter'", Selection.BASE);
    }

    // ---------------------------------------------------------------- scopes and forward

    /**
     * A scope in which the model computes exactly the base model's outputs. Merged adapters are
     * taken out for the scope and merged back when it closes.
     */
    public synchronized AdapterScope disableAdapters() {
        boolean wasDisabled = runtime.disabled();
        List<Adapter> merged = new ArrayList<>();
        for (Adapter a : adapters.values()) {
            if (a.isMerged()) {
                a.unmerge();
                merged.add(a);
            }
        }
        runtime.setDisabled(true);
        return () -> {
            synchronized (this) {
                runtime.setDisabled(wasDisabled);
                for (Adapter a : merged) {
                    a.merge();
                }
            }
        };
    }

    /**
     * A scope in which the calling thread runs one adapter per sample of each batch ({@link
     * Selection#BASE} for none). Inference only; refused while any adapter is merged.
     */
    public AdapterScope useAdapters(List<String> perSample) {
        Preconditions.checkArgument(!perSample.isEmpty(), "the per-sample adapter list is empty");
        synchronized (this) {
            for (String n : perSample) {
                if (!Selection.BASE.equals(n)) {
                    adapter(n);
                }
            }
            for (Adapter a : adapters.values()) {
                Preconditions.checkState(
                        !a.isMerged(),
                        "Mixed-batch inference needs unmerged adapters, but '%s' is merged: call"
                                + " unmerge() first",
                        a.name());
            }
        }
        return override(Selection.perSample(perSample));
    }

    /** A scope in which the calling thread runs adapter {@code name} (other threads unaffected). */
    public AdapterScope useAdapter(String name) {
        Preconditions.checkState(
                adapters.values().stream().noneMatch(Adapter::isMerged)
                        || adapter(name).isMerged(),
                "Another adapter is merged into the weights; unmerge before selecting '%s'",
                name);
        adapter(name);
        return override(Selection.single(name));
    }

    private AdapterScope override(Selection selection) {
        Selection previous = runtime.override();
        runtime.setOverride(selection);
        return () -> runtime.setOverride(previous);
    }

    /** Runs the model in inference mode. */
    public NDList forward(NDList inputs) {
        return forward(inputs, false);
    }

    /** Runs the model. */
    public NDList forward(NDList inputs, boolean training) {
        NDManager owner = inputs.head().getManager();
        return base.forward(new ParameterStore(owner, false), inputs, training);
    }

    /** Runs the model with one adapter per sample (inference), as {@link #useAdapters(List)}. */
    public NDList forward(NDList inputs, List<String> perSampleAdapters) {
        try (AdapterScope s = useAdapters(perSampleAdapters)) {
            return forward(inputs, false);
        }
    }

    // ---------------------------------------------------------------- merge

    /** Merges the active adapter into the base weights. */
    public synchronized void merge() {
        Preconditions.checkState(runtime.activeAdapter() != null, "No active adapter to merge");
        merge(runtime.activeAdapter());
    }

    /**
     * Merges adapter {@code name} into the base weights.
     *
     * @throws UnsupportedOperationException when the method cannot merge
     * @throws ArithmeticException when the merged weights would hold NaN/Inf (weights untouched)
     */
    public synchronized void merge(String name) {
        Adapter a = adapter(name);
        String reason = a.mergeUnsupportedReason();
        if (reason != null) {
            throw new UnsupportedOperationException(
                    "Adapter '" + name + "' (" + a.config().peftType() + ") cannot be merged: " + reason);
        }
        if (!a.isMerged()) {
            a.merge();
        }
    }

    /** Takes every merged adapter back out of the base weights. */
    public synchronized void unmerge() {
        for (Adapter a : adapters.values()) {
            if (a.isMerged()) {
                a.unmerge();
            }
        }
    }

    /**
     * Merges the active adapter, removes every adapter and returns the base block with merged
     * weights (as peft's {@code merge_and_unload}). This PeftModel is closed afterwards.
     */
    public synchronized Block mergeAndUnload() {
        merge();
        String active = runtime.activeAdapter();
        for (String name : new ArrayList<>(adapters.keySet())) {
            Adapter a = adapters.remove(name);
            if (name.equals(active)) {
                a.detach(); // merged: the delta stays in the weights
            } else {
                if (a.isMerged()) {
                    a.unmerge();
                }
                a.detach();
            }
        }
        runtime.setActiveAdapter(null);
        close();
        return base;
    }

    /** Removes every adapter and returns the base block, unchanged. This PeftModel is closed. */
    public synchronized Block unload() {
        close();
        return base;
    }

    // ---------------------------------------------------------------- training view

    /** The tensors training updates: those of the active adapter, by file key. */
    @Override
    public synchronized Map<String, Parameter> trainableParameters() {
        String active = runtime.activeAdapter();
        if (active == null) {
            return Map.of();
        }
        Map<String, Parameter> result = new LinkedHashMap<>();
        adapters.get(active).parameters().forEach((k, p) -> {
            if (p.requiresGradient()) {
                result.put(k, p);
            }
        });
        return result;
    }

    /**
     * Trainable and total parameter counts (adapters included in the total). A tied weight (see
     * {@link TiedParameters}) counts once, as in Hugging Face's {@code num_parameters()}.
     */
    public synchronized TrainableSummary trainableSummary() {
        Set<Parameter> tied = Collections.newSetFromMap(new IdentityHashMap<>());
        if (base instanceof TiedParameters) {
            tied.addAll(((TiedParameters) base).tiedCopies());
        }
        long total = 0;
        for (Parameter p : frozenBaseParameters.keySet()) {
            if (p.isInitialized() && !tied.contains(p)) {
                total += p.getArray().size();
            }
        }
        for (Adapter a : adapters.values()) {
            for (Parameter p : a.parameters().values()) {
                total += p.getArray().size();
            }
        }
        long trainable = 0;
        for (Parameter p : trainableParameters().values()) {
            trainable += p.getArray().size();
        }
        return new TrainableSummary(trainable, total);
    }

    /** The wrapped base block (with adapters installed in it). */
    public Block baseModel() {
        return base;
    }

    /** The manager that owns adapter arrays. */
    public NDManager manager() {
        return manager;
    }

    /** Sets the {@code base_model_name_or_path} written to {@code adapter_config.json}. */
    public PeftModel baseModelName(String name) {
        this.baseModelName = name;
        return this;
    }

    // ---------------------------------------------------------------- files

    /**
     * Saves every adapter in Hugging Face peft's layout: {@value #DEFAULT_ADAPTER} in {@code dir}
     * itself, any other adapter in {@code dir/<name>/}. Each file is written atomically.
     */
    public synchronized void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        for (Adapter a : adapters.values()) {
            Path target = a.name().equals(DEFAULT_ADAPTER) ? dir : dir.resolve(a.name());
            AdapterFiles.write(target, a, baseModelName);
        }
    }

    /** Saves adapter {@code name} alone into {@code dir}. */
    public synchronized void saveAdapter(String name, Path dir) throws IOException {
        AdapterFiles.write(dir, adapter(name), baseModelName);
    }

    /**
     * Removes every adapter (unmerging merged ones), restores the original modules and the base
     * parameters' trainable flags, and frees adapter memory.
     */
    @Override
    public synchronized void close() {
        for (String name : new ArrayList<>(adapters.keySet())) {
            Adapter a = adapters.remove(name);
            if (a.isMerged()) {
                a.unmerge();
            }
            a.detach();
        }
        runtime.setActiveAdapter(null);
        frozenBaseParameters.forEach((p, requiresGrad) -> {
            if (p.isInitialized()) {
                p.freeze(!requiresGrad);
            }
        });
        manager.close();
    }

    /** The base model's own parameters (frozen while wrapped). */
    public Set<Parameter> baseParameters() {
        return Collections.unmodifiableSet(frozenBaseParameters.keySet());
    }
}
