package io.peft4j.shadow;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.io.AtomicFiles;
import io.peft4j.core.io.SafetensorsFile;
import io.peft4j.core.io.SafetensorsWriter;
import io.peft4j.core.model.LayerStack;
import io.peft4j.core.train.TrainableModel;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import io.peft4j.core.tree.Modules;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * ShadowPEFT's detached mode: the base's embeddings, then the shadow network alone, then the base's
 * head ({@code lm_head(proj(shadow(embed(ids))))}); no base layer runs. For edge deployment, and
 * for pretraining a shadow before attaching it ({@link ShadowConfig.Builder#pretrainedShadow}).
 *
 * <pre>{@code
 * try (DetachedShadow shadow = DetachedShadow.create(llama, ShadowConfig.builder().build())) {
 *     FineTuner.builder().learningRate(1e-3).build()
 *             .fit(shadow, (batch, training) -> shadow.loss(batch.get(0), batch.get(1), training), data);
 *     shadow.save(dir);   // shadow_config.json + shadow_model.safetensors
 * }
 * PeftModel peft = PeftModel.wrap(llama, ShadowConfig.builder().pretrainedShadow(dir.toString()).build());
 * }</pre>
 *
 * <p>A detached shadow made by {@link ShadowModel#detached()} is a view of the adapter's tensors;
 * one made by {@link #create} or {@link #load} owns its tensors and freezes the base's parameters
 * until {@link #close()}. Generation recomputes the whole sequence for each new token (the shadow
 * has no KV cache).
 */
public final class DetachedShadow implements TrainableModel, AutoCloseable {

    static final String CONFIG_FILE = "shadow_config.json";
    static final String WEIGHTS_FILE = "shadow_model.safetensors";

    private final LayerStack stack;
    private final ShadowConfig config;
    private final ShadowNetwork network;
    private final NDManager manager;
    private final IdentityHashMap<Parameter, Boolean> frozen = new IdentityHashMap<>();

    /** A view's own classification head (the adapter's), or null: the base head. */
    private ShadowHeadCopy head;

    private DetachedShadow(
            LayerStack stack, ShadowConfig config, ShadowNetwork network, NDManager manager) {
        this.stack = stack;
        this.config = config;
        this.network = network;
        this.manager = manager;
        if (manager != null) {
            for (Pair<String, Parameter> p : stack.getParameters()) {
                frozen.put(p.getValue(), p.getValue().requiresGradient());
                if (p.getValue().isInitialized()) {
                    p.getValue().freeze(true);
                }
            }
        }
    }

    /** A view of an attached adapter's shadow network (shares its tensors). */
    static DetachedShadow view(
            LayerStack stack, ShadowConfig config, ShadowNetwork network, ShadowHeadCopy head) {
        DetachedShadow view = new DetachedShadow(stack, config, network, null);
        view.head = head;
        return view;
    }

    /**
     * A fresh shadow for {@code stack} (the config's automatic sizes resolved as for an adapter),
     * to pretrain. The base's parameters are frozen until {@link #close()}.
     *
     * @param stack the base model as a layer stack
     * @param config the shadow's sizes and settings
     * @return the shadow; close it to unfreeze the base
     */
    public static DetachedShadow create(LayerStack stack, ShadowConfig config) {
        Objects.requireNonNull(stack, "stack");
        ModuleTree tree = ModuleTree.of(stack);
        ModuleNode root = ShadowInjector.findStack(tree).node();
        if (root.block() != stack) {
            throw new IllegalArgumentException("the LayerStack must be the block passed in");
        }
        ShadowConfig resolved =
                ShadowInjector.resolve(
                        config.toBuilder().pretrainedShadow(null).build(), stack, tree, root);
        NDArray like = weightOf(stack);
        NDManager m = NDManager.newBaseManager(like.getDevice());
        try {
            ShadowNetwork net =
                    new ShadowNetwork(
                            resolved,
                            stack.hiddenSize(),
                            m,
                            like.getDataType(),
                            like.getDevice(),
                            resolved.seed(),
                            ShadowInjector.activationOf(stack));
            return new DetachedShadow(stack, resolved, net, m);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /**
     * Loads a shadow saved by {@link #save} for {@code stack}.
     *
     * @param stack the base model as a layer stack
     * @param dir the folder written by {@link #save}
     * @return the shadow; close it to unfreeze the base
     * @throws IOException when a file cannot be read
     */
    public static DetachedShadow load(LayerStack stack, Path dir) throws IOException {
        try (Files files = readFiles(dir)) {
            if (files.baseHidden() != stack.hiddenSize()) {
                throw new IllegalArgumentException(
                        "the shadow in "
                                + dir
                                + " was built for base hidden size "
                                + files.baseHidden()
                                + " but this base has "
                                + stack.hiddenSize());
            }
            DetachedShadow shadow = create(stack, files.config());
            try {
                Tensors.validateAndCopy(
                        "shadow in " + dir,
                        shadow.network.fileTensors(),
                        files.tensors("shadow in " + dir, shadow.network.fileTensors()));
            } catch (RuntimeException e) {
                shadow.close();
                throw e;
            }
            return shadow;
        }
    }

    private static NDArray weightOf(LayerStack stack) {
        return Modules.firstFloatArray(stack)
                .orElseThrow(
                        () ->
                                new IllegalArgumentException(
                                        "the base model has no initialized floating-point"
                                                + " weights"));
    }

    /** {@return the resolved config} */
    public ShadowConfig config() {
        return config;
    }

    /** {@return number of elements of the shadow network and projection} */
    public long parameterCount() {
        return network.size();
    }

    /**
     * The shadow's tensors by file key ({@code shadow_model.*}, {@code
     * shadow_hidden_projection.weight}).
     */
    @Override
    public Map<String, Parameter> trainableParameters() {
        return network.fileParameters();
    }

    /**
     * The shadow-only outputs: the base head on the shadow state (logits for a causal LM).
     *
     * @param ids (B, T) token ids
     * @param mask (B, T) attention mask (1 real, 0 padding), or null
     * @param training whether this is a training pass
     * @return the head's first output, attached to {@code ids}' manager
     */
    public NDArray logits(NDArray ids, NDArray mask, boolean training) {
        NDManager parent = ids.getManager();
        try (NDManager scope = parent.newSubManager()) {
            ids.tempAttach(scope);
            NDList inputs = new NDList(ids);
            if (mask != null) {
                mask.tempAttach(scope);
                inputs.add(mask);
            }
            ParameterStore ps = new ParameterStore(parent, false);
            NDList embedded = stack.embed(ps, inputs, training, null);
            NDArray s0 = network.forward(ps, embedded.head(), embedded.subNDList(1), training);
            NDArray out =
                    stack.head(head == null ? ps : head.store(parent, false), s0, training, null)
                            .head();
            out.attach(parent);
            return out;
        }
    }

    /**
     * Mean next-token negative log-likelihood of the shadow alone (real tokens only).
     *
     * @param ids token ids (batch, seq)
     * @param mask attention mask (batch, seq), 1 for real tokens
     * @param training whether dropout is on
     * @return the scalar loss
     */
    public NDArray loss(NDArray ids, NDArray mask, boolean training) {
        return ShadowModel.nextTokenLoss(logits(ids, mask, training), ids, mask);
    }

    /**
     * Greedy continuation of each prompt by the shadow alone (left-padded batch, no KV cache: each
     * new token reruns the shadow over the whole sequence).
     *
     * @param prompts token ids, at least one per prompt
     * @param maxNewTokens tokens to add
     * @param eosTokenId stop a row at this token (-1: never)
     * @param padTokenId id used for left padding
     * @return the new tokens of each prompt (ending with EOS when it was produced)
     */
    public List<long[]> generate(
            List<long[]> prompts, int maxNewTokens, int eosTokenId, int padTokenId) {
        NDArray like = network.parameters().values().iterator().next().getArray();
        int batch = prompts.size();
        List<List<Long>> rows = new ArrayList<>();
        for (long[] p : prompts) {
            if (p.length == 0) {
                throw new IllegalArgumentException("prompt " + rows.size() + " is empty");
            }
            List<Long> r = new ArrayList<>();
            for (long t : p) {
                r.add(t);
            }
            rows.add(r);
        }
        List<List<Long>> out = new ArrayList<>();
        for (int b = 0; b < batch; b++) {
            out.add(new ArrayList<>());
        }
        boolean[] done = new boolean[batch];
        try (NDManager m = NDManager.newBaseManager(like.getDevice())) {
            for (int t = 0; t < maxNewTokens; t++) {
                int width = rows.stream().mapToInt(List::size).max().getAsInt();
                long[][] ids = new long[batch][width];
                long[][] mask = new long[batch][width];
                for (int b = 0; b < batch; b++) {
                    List<Long> r = rows.get(b);
                    int pad = width - r.size();
                    Arrays.fill(ids[b], 0, pad, padTokenId);
                    for (int i = 0; i < r.size(); i++) {
                        ids[b][pad + i] = r.get(i);
                        mask[b][pad + i] = 1;
                    }
                }
                try (NDManager step = m.newSubManager()) {
                    NDArray logits = logits(step.create(ids), step.create(mask), false);
                    NDArray last = logits.get(":, " + (width - 1) + ", :").argMax(-1);
                    long[] next = last.toType(DataType.INT64, false).toLongArray();
                    boolean all = true;
                    for (int b = 0; b < batch; b++) {
                        if (!done[b]) {
                            out.get(b).add(next[b]);
                            rows.get(b).add(next[b]);
                            done[b] = next[b] == eosTokenId;
                        } else {
                            rows.get(b).add((long) padTokenId);
                        }
                        all &= done[b];
                    }
                    if (all) {
                        break;
                    }
                }
            }
        }
        List<long[]> result = new ArrayList<>();
        for (List<Long> r : out) {
            result.add(r.stream().mapToLong(Long::longValue).toArray());
        }
        return result;
    }

    /**
     * Writes {@code shadow_config.json} and {@code shadow_model.safetensors} into {@code dir},
     * replacing the folder as a whole ({@link io.peft4j.core.io.FolderSwap}).
     *
     * @param dir the folder to write (created if absent)
     * @throws IOException when a file cannot be written
     */
    public void save(Path dir) throws IOException {
        io.peft4j.core.io.FolderSwap.replace(dir, this::writeFiles);
    }

    private void writeFiles(Path dir) throws IOException {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        network.fileTensors().forEach((k, p) -> tensors.put(k, p.getArray()));
        SafetensorsWriter.write(dir.resolve(WEIGHTS_FILE), tensors, Map.of("format", "pt"));
        JsonObject json = config.toJson();
        json.remove("pretrained_shadow_path");
        json.addProperty("base_hidden_size", stack.hiddenSize());
        AtomicFiles.writeString(
                dir.resolve(CONFIG_FILE),
                new GsonBuilder().setPrettyPrinting().create().toJson(json) + "\n");
    }

    /**
     * A saved shadow's config, with its weights file open but not read: {@link #tensors} checks the
     * header against the network built from the config before any tensor is read.
     */
    record Files(ShadowConfig config, int baseHidden, SafetensorsFile weights, NDManager manager)
            implements AutoCloseable {

        /**
         * The file's tensors, read only after their names, types and shapes (from the header) are
         * those of {@code expected}.
         */
        Map<String, NDArray> tensors(String what, Map<String, Parameter> expected) {
            Map<String, io.peft4j.core.io.TensorInfo> header = new LinkedHashMap<>();
            for (String name : weights.names()) {
                header.put(name, weights.info(name));
            }
            io.peft4j.core.spi.AdapterTensors.checkHeader(
                    what + " (" + weights.path() + ")",
                    io.peft4j.core.spi.AdapterTensors.specsOf(expected, Map.of(), ""),
                    header);
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            for (String name : weights.names()) {
                tensors.put(name, weights.load(name, manager));
            }
            return tensors;
        }

        @Override
        public void close() {
            try {
                weights.close();
            } finally {
                manager.close();
            }
        }
    }

    static Files readFiles(Path dir) throws IOException {
        Path configFile = dir.resolve(CONFIG_FILE);
        Path weightsFile = dir.resolve(WEIGHTS_FILE);
        if (!java.nio.file.Files.isRegularFile(configFile)
                || !java.nio.file.Files.isRegularFile(weightsFile)) {
            throw new IOException(
                    dir
                            + " is not a saved shadow: expected "
                            + CONFIG_FILE
                            + " and "
                            + WEIGHTS_FILE);
        }
        JsonObject json;
        try {
            json =
                    JsonParser.parseString(
                                    java.nio.file.Files.readString(
                                            configFile, StandardCharsets.UTF_8))
                            .getAsJsonObject();
        } catch (RuntimeException e) {
            throw new IOException(configFile + " is not a JSON object: " + e.getMessage(), e);
        }
        if (!json.has("base_hidden_size")) {
            throw new IOException(configFile + " has no \"base_hidden_size\"");
        }
        int baseHidden = json.remove("base_hidden_size").getAsInt();
        ShadowConfig config = ShadowConfig.fromJson(json, w -> {});
        if (!config.isResolved()) {
            throw new IOException(configFile + " does not give every shadow size: " + json);
        }
        SafetensorsFile st = SafetensorsFile.open(weightsFile);
        NDManager m = NDManager.newBaseManager();
        return new Files(config.toBuilder().pretrainedSource(null).build(), baseHidden, st, m);
    }

    /** Frees the shadow's tensors (when it owns them) and restores the base's trainable flags. */
    @Override
    public void close() {
        if (manager == null) {
            return;
        }
        frozen.forEach(
                (p, requiresGrad) -> {
                    if (p.isInitialized()) {
                        p.freeze(!requiresGrad);
                    }
                });
        frozen.clear();
        network.close();
        manager.close();
    }

    /** {@return the base this shadow runs on} */
    public Block base() {
        return stack;
    }
}
