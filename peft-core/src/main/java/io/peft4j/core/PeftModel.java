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
import io.peft4j.core.model.TiedParameters;
import io.peft4j.core.spi.Adapter;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.PeftMethod;
import io.peft4j.core.spi.Selection;
import io.peft4j.core.train.TrainableModel;
import java.io.IOException;
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
 * <p>Wrapping freezes every base parameter and installs the adapter in place: the base block's own
 * {@code forward} runs the adapter from then on. Several named adapters can live side by side; one
 * is active. {@link #disableAdapters()} gives exactly the base model inside its scope. {@link
 * #unload()} and {@link #close()} put the original modules back.
 */
public final class PeftModel implements TrainableModel, AutoCloseable {

    /** The name of the adapter created by {@link #wrap(Block, AdapterConfig)}. */
    public static final String DEFAULT_ADAPTER = "default";

    private static final Pattern ADAPTER_NAME =
            Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.\\-]{0,127}");

    private final Block base;
    private final NDManager manager;
    private final AdapterRuntime runtime = new AdapterRuntime();
    private final AdapterContext context;
    private final Map<String, Adapter> adapters = new LinkedHashMap<>();
    private final IdentityHashMap<Parameter, Boolean> frozenBaseParameters =
            new IdentityHashMap<>();

    /**
     * The base parameters DJL's {@code freezeParameters(false)} unfreezes (all but BatchNorm
     * statistics).
     */
    private final List<Parameter> unfreezableBase = new ArrayList<>();

    private NormStatistics normStatistics;
    private String baseModelName;

    private PeftModel(Block base, Device device) {
        SymbolBlocks.checkWrappable(base);
        io.peft4j.core.engine.MklCpuDispatch.adviseIfMissing();
        this.base = base;
        this.manager = NDManager.newBaseManager(device);
        this.context = new AdapterContext(base, manager, runtime);
        for (Pair<String, Parameter> p : base.getParameters()) {
            Parameter parameter = p.getValue();
            frozenBaseParameters.put(parameter, parameter.requiresGradient());
            if (parameter.isInitialized()) {
                parameter.freeze(true);
                Parameter.Type type = parameter.getType();
                if (type != Parameter.Type.RUNNING_MEAN && type != Parameter.Type.RUNNING_VAR) {
                    unfreezableBase.add(parameter);
                }
            }
        }
        this.normStatistics = NormStatistics.freeze(base);
        runtime.setTrainingGuard(this::keepBaseFrozen);
    }

    /**
     * Called by the adapter layers before each training forward. DJL's {@code Model.newTrainer} on
     * a model that came from {@code Model.load} calls {@code freezeParameters(false)} on the whole
     * block tree, which would let DJL's Trainer (and {@code EasyTrain.fit}) update every base
     * weight and every inactive adapter. That is recognised by every base parameter requiring
     * gradients (one check while the first one is frozen, the usual case), and undone here, before
     * the pass records anything the optimiser would apply. A base parameter a user unfroze on
     * purpose (a classification head, say) is left alone.
     */
    private void keepBaseFrozen() {
        if (unfreezableBase.isEmpty() || !unfreezableBase.get(0).requiresGradient()) {
            return;
        }
        for (Parameter p : unfreezableBase) {
            if (!p.requiresGradient()) {
                return;
            }
        }
        restoreTrainability();
    }

    /** Base frozen, the active adapter trainable, the others frozen: what wrapping set up. */
    private synchronized void restoreTrainability() {
        for (Parameter p : frozenBaseParameters.keySet()) {
            if (p.isInitialized()) {
                p.freeze(true);
            }
        }
        String active = runtime.activeAdapter();
        for (Adapter a : adapters.values()) {
            setTrainable(a, a.name().equals(active));
        }
    }

    /**
     * Whether training passes may update the base model's BatchNorm running statistics (DJL's
     * default behaviour). Off by default: while wrapped, the statistics stay exactly as loaded, so
     * {@link #disableAdapters()} and {@link #close()} give the base model bit for bit. A training
     * pass still normalises with the batch's statistics, as PyTorch's train mode does.
     *
     * @param train {@code true} to let training update the statistics, {@code false} to keep them
     *     as loaded
     * @return this
     */
    public synchronized PeftModel trainNormStatistics(boolean train) {
        if (train && normStatistics != null) {
            normStatistics.restore();
            normStatistics = null;
        } else if (!train && normStatistics == null) {
            normStatistics = NormStatistics.freeze(base);
        }
        return this;
    }

    /**
     * Wraps {@code base} with one adapter named {@value #DEFAULT_ADAPTER}.
     *
     * @param base the base model's block, with initialized parameters
     * @param config the adapter's configuration
     * @return the wrapped model
     */
    public static PeftModel wrap(Block base, AdapterConfig config) {
        return wrap(base, config, DEFAULT_ADAPTER);
    }

    /**
     * Wraps {@code model}'s block with one adapter named {@value #DEFAULT_ADAPTER}. The model can
     * come from {@code Model.newInstance} + {@code setBlock} or from {@code Model.load}, and be
     * trained with DJL's {@code Trainer} / {@code EasyTrain.fit} before or after this call: the
     * base stays frozen (see the README's "Use it").
     *
     * @param model the base model; its block must be set
     * @param config the adapter's configuration
     * @return the wrapped model
     */
    public static PeftModel wrap(Model model, AdapterConfig config) {
        return wrap(blockOf(model), config, DEFAULT_ADAPTER);
    }

    /**
     * Loads the adapter(s) saved in {@code dir} onto {@code model}'s block, as {@link #load(Block,
     * Path)}.
     *
     * @param model the base model; its block must be set
     * @param dir the folder the adapter(s) were saved in
     * @return the wrapped model
     * @throws IOException when a file is missing, unreadable or malformed
     */
    public static PeftModel load(Model model, Path dir) throws IOException {
        return load(blockOf(model), dir);
    }

    private static Block blockOf(Model model) {
        Block block = model.getBlock();
        if (block == null) {
            throw new IllegalArgumentException(
                    "Model '"
                            + model.getName()
                            + "' has no block: set one (Model.setBlock) or load the model first");
        }
        return block;
    }

    /**
     * Wraps {@code base} with one adapter named {@code name}, on the base weights' device.
     *
     * @param base the base model's block, with initialized parameters
     * @param config the adapter's configuration
     * @param name the adapter's name
     * @return the wrapped model
     */
    public static PeftModel wrap(Block base, AdapterConfig config, String name) {
        return wrap(base, config, name, deviceOf(base));
    }

    /**
     * Wraps {@code base} with one adapter named {@code name}; adapter tensors live on {@code
     * device}, which must be where the base weights are.
     *
     * @param base the base model's block, with initialized parameters
     * @param config the adapter's configuration
     * @param name the adapter's name
     * @param device the device for the adapter tensors
     * @return the wrapped model
     * @throws IllegalArgumentException when {@code device} is not the base weights' device
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
     *
     * @param base the base model's block, with initialized parameters
     * @param dir the folder the adapter(s) were saved in
     * @return the wrapped model, with {@value #DEFAULT_ADAPTER} active
     * @throws IOException when a file is missing, unreadable or malformed
     */
    public static PeftModel load(Block base, Path dir) throws IOException {
        PeftModel peft = new PeftModel(base, deviceOf(base));
        try {
            dir = io.peft4j.core.io.FolderSwap.readable(dir);
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
     *
     * @param name the new adapter's name
     * @param config the adapter's configuration
     * @throws IllegalArgumentException when the name is not allowed or taken, or the config does
     *     not fit the model
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
     * @param dir the folder the adapter was saved in
     * @param name the name to load it under
     * @throws IOException when a file is missing, unreadable or malformed (the message names it)
     * @throws IllegalArgumentException when the adapter does not fit the model (names the file,
     *     tensor or target and what was expected)
     */
    public synchronized void loadAdapter(Path dir, String name) throws IOException {
        checkName(name);
        // A writer may swap the folder while we read it: the two files must come from one save,
        // so read again when either file was replaced meanwhile (each save makes new files).
        for (int attempt = 1; ; attempt++) {
            Path folder = io.peft4j.core.io.FolderSwap.readable(dir);
            List<Object> before = AdapterFiles.identity(folder);
            loadAdapterOnce(folder, name);
            if (before.equals(AdapterFiles.identity(folder)) || attempt == 5) {
                return;
            }
            deleteAdapter(name);
        }
    }

    private void loadAdapterOnce(Path dir, String name) throws IOException {
        AdapterFiles.Loaded loaded = AdapterFiles.readConfig(dir);
        try {
            addAdapter(name, loaded.config());
        } catch (IllegalArgumentException e) {
            // e.g. targets that match nothing in this model: say which saved adapter it was
            throw new IllegalArgumentException(
                    dir.resolve(AdapterFiles.CONFIG_FILE)
                            + " does not fit this model: "
                            + e.getMessage(),
                    e);
        }
        Adapter adapter = adapters.get(name);
        try {
            AdapterFiles.readTensors(dir, adapter, manager);
        } catch (IOException | RuntimeException e) {
            deleteAdapter(name);
            throw e;
        }
    }

    /**
     * Removes an adapter; the modules no other adapter uses are restored.
     *
     * @param name the adapter to remove
     */
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

    /**
     * Makes {@code name} the active adapter: it runs in forward and its tensors are trainable.
     *
     * @param name the adapter to activate
     */
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

    /** {@return the active adapter's name, or {@code null} when there is none} */
    public String activeAdapter() {
        return runtime.activeAdapter();
    }

    /** {@return the names of all adapters, in the order they were added} */
    public synchronized Set<String> adapterNames() {
        return Collections.unmodifiableSet(new java.util.LinkedHashSet<>(adapters.keySet()));
    }

    /**
     * The adapter named {@code name}.
     *
     * @param name the adapter's name
     * @return the adapter
     * @throws IllegalArgumentException when there is no adapter of that name
     */
    public synchronized Adapter adapter(String name) {
        Adapter a = adapters.get(name);
        if (a == null) {
            throw new IllegalArgumentException(
                    "No adapter named '" + name + "'; adapters: " + adapters.keySet());
        }
        return a;
    }

    /**
     * The config of adapter {@code name}.
     *
     * @param name the adapter's name
     * @return the adapter's configuration
     */
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
     *
     * @return the scope; closing it turns the adapters back on
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
     *
     * @param perSample the adapter name for each sample of a batch, in order
     * @return the scope; closing it restores the previous selection
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

    /**
     * A scope in which the calling thread runs adapter {@code name} (other threads unaffected).
     *
     * @param name the adapter to run
     * @return the scope; closing it restores the previous selection
     */
    public AdapterScope useAdapter(String name) {
        Preconditions.checkState(
                adapters.values().stream().noneMatch(Adapter::isMerged) || adapter(name).isMerged(),
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

    /**
     * Runs the model in inference mode.
     *
     * @param inputs the model's inputs
     * @return the model's outputs
     */
    public NDList forward(NDList inputs) {
        return forward(inputs, false);
    }

    /**
     * Runs the model.
     *
     * @param inputs the model's inputs
     * @param training whether this is a training pass
     * @return the model's outputs
     */
    public NDList forward(NDList inputs, boolean training) {
        NDManager owner = inputs.head().getManager();
        return base.forward(new ParameterStore(owner, false), inputs, training);
    }

    /**
     * Runs the model with one adapter per sample (inference), as {@link #useAdapters(List)}.
     *
     * @param inputs the model's inputs
     * @param perSampleAdapters the adapter name for each sample of the batch, in order
     * @return the model's outputs
     */
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
     * @param name the adapter to merge
     * @throws UnsupportedOperationException when the method cannot merge
     * @throws ArithmeticException when the merged weights would hold NaN/Inf (weights untouched)
     */
    public synchronized void merge(String name) {
        Adapter a = adapter(name);
        String reason = a.mergeUnsupportedReason();
        if (reason != null) {
            throw new UnsupportedOperationException(
                    "Adapter '"
                            + name
                            + "' ("
                            + a.config().peftType()
                            + ") cannot be merged: "
                            + reason);
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
     *
     * @return the base block, with the active adapter merged into its weights
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

    /**
     * Removes every adapter and returns the base block, unchanged. This PeftModel is closed.
     *
     * @return the base block
     */
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
        adapters.get(active)
                .parameters()
                .forEach(
                        (k, p) -> {
                            if (p.requiresGradient()) {
                                result.put(k, p);
                            }
                        });
        return result;
    }

    /**
     * Trainable and total parameter counts (adapters included in the total). Trainable counts every
     * tensor that really requires gradients: the active adapter's, and any base tensor a user
     * unfroze on purpose (DJL's wholesale unfreezing by {@code newTrainer} is undone first). A tied
     * weight (see {@link TiedParameters}) counts once, as in Hugging Face's {@code
     * num_parameters()}.
     *
     * @return the trainable and total counts
     */
    public synchronized TrainableSummary trainableSummary() {
        keepBaseFrozen();
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
        Set<Parameter> all = Collections.newSetFromMap(new IdentityHashMap<>());
        all.addAll(frozenBaseParameters.keySet());
        for (Adapter a : adapters.values()) {
            for (Parameter p : a.parameters().values()) {
                total += p.getArray().size();
                all.add(p);
            }
        }
        for (Pair<String, Parameter> p : base.getParameters()) {
            all.add(p.getValue());
        }
        long trainable = 0;
        for (Parameter p : all) {
            if (p.isInitialized() && p.requiresGradient() && !tied.contains(p)) {
                trainable += p.getArray().size();
            }
        }
        return new TrainableSummary(trainable, total);
    }

    /** {@return the wrapped base block (with adapters installed in it)} */
    public Block baseModel() {
        return base;
    }

    /** {@return the manager that owns adapter arrays} */
    public NDManager manager() {
        return manager;
    }

    /**
     * Sets the {@code base_model_name_or_path} written to {@code adapter_config.json}.
     *
     * @param name the base model's name or path
     * @return this
     */
    public PeftModel baseModelName(String name) {
        this.baseModelName = name;
        return this;
    }

    // ---------------------------------------------------------------- files

    /**
     * Saves every adapter in Hugging Face peft's layout: {@value #DEFAULT_ADAPTER} in {@code dir}
     * itself, any other adapter in {@code dir/<name>/}. The folder is replaced as a whole: written
     * beside the old one and swapped in by renames, so a reader or a crash finds all of the old
     * save or all of the new one (see {@link io.peft4j.core.io.FolderSwap}); other files in {@code
     * dir} (training logs, say) are kept.
     *
     * @param dir the folder to save into
     * @throws IOException when writing or swapping the folder fails
     */
    public synchronized void save(Path dir) throws IOException {
        io.peft4j.core.io.FolderSwap.replace(
                dir,
                fresh -> {
                    for (Adapter a : adapters.values()) {
                        Path target =
                                a.name().equals(DEFAULT_ADAPTER) ? fresh : fresh.resolve(a.name());
                        AdapterFiles.writeFiles(target, a, baseModelName);
                    }
                });
    }

    /**
     * Saves adapter {@code name} alone into {@code dir}, replacing it as a whole as {@link #save}.
     *
     * @param name the adapter to save
     * @param dir the folder to save into
     * @throws IOException when writing or swapping the folder fails
     */
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
        runtime.setTrainingGuard(null);
        if (normStatistics != null) {
            normStatistics.restore();
            normStatistics = null;
        }
        frozenBaseParameters.forEach(
                (p, requiresGrad) -> {
                    if (p.isInitialized()) {
                        p.freeze(!requiresGrad);
                    }
                });
        manager.close();
    }

    /** {@return the base model's own parameters (frozen while wrapped)} */
    public Set<Parameter> baseParameters() {
        return Collections.unmodifiableSet(frozenBaseParameters.keySet());
    }
}
