package io.peft4j.masa;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.util.Pair;
import io.peft4j.core.io.SafetensorsFile;
import io.peft4j.core.io.SafetensorsWriter;
import io.peft4j.core.spi.AdapterParameters;
import io.peft4j.core.train.TrainableModel;
import io.peft4j.core.tree.AdapterWrapper;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleReplacer;
import io.peft4j.core.tree.ModuleTree;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;

/**
 * MASA's main setting: a model whose targeted projections (default Q, K, V, O) <em>are</em> {@code
 * W_l = sum_s c_ls D_s} from initialisation, with atoms and coefficients trained together with the
 * rest of the model (pretraining from scratch), no residual. Each dictionary (projection type and,
 * with {@code groups}, run of consecutive layers) holds one atoms parameter (S, out, in) shared by
 * its layers; each layer holds S coefficients and keeps its bias.
 *
 * <p>Initialisation keeps each layer's weight distribution: atoms i.i.d. {@code N(0, sigma^2)} with
 * sigma the standard deviation of the group's freshly initialised dense weights, coefficients
 * i.i.d. {@code N(0, 1/S)}, so every {@code W_l} entry has variance {@code sigma^2} in expectation,
 * as the vanilla twin's.
 *
 * <pre>{@code
 * LlamaForCausalLM llama = new LlamaForCausalLM(config);  llama.initialize(manager, FLOAT32, new Shape(1, 8));
 * try (SharedAtomModel masa = SharedAtomModel.build(llama, MasaConfig.builder().atoms(L / 3).build(), manager, 42)) {
 *     FineTuner.builder().learningRate(3e-3).maxSteps(1000).build().fit(masa, loss, data);   // trains everything
 *     masa.save(dir.resolve("model.masa.safetensors"));
 * }
 * }</pre>
 */
public final class SharedAtomModel implements TrainableModel, AutoCloseable {

    private static final String ATOMS = ".masa_atoms";
    private static final String COEFFICIENTS = ".masa_coefficients";

    private final Block model;
    private final MasaConfig config;
    private final Map<String, Parameter> atoms = new LinkedHashMap<>(); // by dictionary key
    private final Map<String, AtomLinear> layers = new LinkedHashMap<>(); // by module path
    private final List<ModuleReplacer.Replacement> replacements = new ArrayList<>();
    private final Set<Parameter> replacedWeights =
            java.util.Collections.newSetFromMap(new IdentityHashMap<>());

    private SharedAtomModel(Block model, MasaConfig config) {
        this.model = model;
        this.config = config;
    }

    /**
     * Replaces every target {@code Linear} of the initialised {@code model} by an {@link
     * AtomLinear} of fresh shared atoms (see the class comment for the initialisation).
     *
     * @param model the initialised model whose target projections are replaced
     * @param config targets, atoms per dictionary (S) and groups (G)
     * @param manager owns the atoms and coefficients
     * @param seed seed of the atoms' and coefficients' initialisation
     * @return the model with shared-atom projections
     * @throws IllegalArgumentException for a target that is not a plain {@code Linear}, S > L / G,
     *     G not dividing L, or a type mixing shapes (the same rules as the adapter)
     */
    public static SharedAtomModel build(
            Block model, MasaConfig config, NDManager manager, long seed) {
        List<ModuleNode> nodes = config.targets().select(ModuleTree.of(model));
        for (ModuleNode n : nodes) {
            if (n.block() instanceof AdapterWrapper || !(n.block() instanceof Linear)) {
                throw new IllegalArgumentException(
                        "MASA from scratch: target '"
                                + n.path()
                                + "' is a "
                                + n.block().getClass().getName()
                                + "; it needs a plain ai.djl.nn.core.Linear");
            }
        }
        List<Dictionaries.Group> plan = Dictionaries.of(nodes, config.groups(), config.atoms());
        SharedAtomModel result = new SharedAtomModel(model, config);
        Random random = new Random(seed);
        int s = config.atoms();
        try {
            for (Dictionaries.Group g : plan) {
                NDArray w0 = Dictionaries.weightOf(g.nodes().get(0).block()).getArray();
                long out = w0.getShape().get(0);
                long in = w0.getShape().get(1);
                double sumSq = 0;
                long count = 0;
                for (ModuleNode n : g.nodes()) {
                    float[] w = Dictionaries.weightOf(n.block()).getArray().toFloatArray();
                    for (float v : w) {
                        sumSq += (double) v * v;
                    }
                    count += w.length;
                }
                double sigma = Math.sqrt(sumSq / count);
                Parameter d =
                        AdapterParameters.trainable(
                                manager,
                                g.key() + ATOMS,
                                AdapterParameters.gaussian(random, s * out * in, sigma),
                                new Shape(s, out, in),
                                w0);
                result.atoms.put(g.key(), d);
                for (ModuleNode n : g.nodes()) {
                    Parameter c =
                            AdapterParameters.trainable(
                                    manager,
                                    n.path() + COEFFICIENTS,
                                    AdapterParameters.gaussian(random, s, 1 / Math.sqrt(s)),
                                    new Shape(s),
                                    w0);
                    Block lin = n.block();
                    Parameter weight = Dictionaries.weightOf(lin);
                    Parameter bias =
                            lin.getDirectParameters().contains("bias")
                                    ? lin.getDirectParameters().get("bias")
                                    : null;
                    if (bias != null && !bias.isInitialized()) {
                        bias = null;
                    }
                    AtomLinear layer = new AtomLinear(d, c, bias);
                    result.replacements.add(ModuleReplacer.replace(n, layer));
                    result.replacedWeights.add(weight);
                    result.layers.put(n.path(), layer);
                }
            }
        } catch (RuntimeException e) {
            result.close();
            throw e;
        }
        return result;
    }

    /** {@return the model, with its targets replaced} */
    public Block model() {
        return model;
    }

    /** {@return the config (targets, S, G)} */
    public MasaConfig config() {
        return config;
    }

    /** {@return the dictionary keys, e.g. {@code model.layers.0-11.self_attn.q_proj}} */
    public List<String> dictionaryKeys() {
        return List.copyOf(atoms.keySet());
    }

    /**
     * The shared atoms of the layer at {@code path} (the same object for every layer of its
     * dictionary).
     *
     * @param path a targeted projection's module path
     * @return its dictionary's atoms, shape (S, out, in)
     */
    public Parameter sharedAtoms(String path) {
        return layer(path).atoms();
    }

    /**
     * The coefficients (S) of the layer at {@code path}.
     *
     * @param path a targeted projection's module path
     * @return its coefficients, shape (S)
     */
    public Parameter coefficients(String path) {
        return layer(path).coefficients();
    }

    private AtomLinear layer(String path) {
        AtomLinear l = layers.get(path);
        if (l == null) {
            throw new IllegalArgumentException(
                    "no MASA layer at '" + path + "'; layers: " + layers.keySet());
        }
        return l;
    }

    /**
     * {@return the parameters of the targeted projections: atoms once per dictionary, coefficients
     * and biases per layer}
     */
    public long attentionParameters() {
        long total = 0;
        for (Parameter d : atoms.values()) {
            total += d.getArray().size();
        }
        for (AtomLinear l : layers.values()) {
            total +=
                    l.coefficients().getArray().size()
                            + (l.bias() == null ? 0 : l.bias().getArray().size());
        }
        return total;
    }

    /**
     * Every parameter the model trains, once each, by name: the model's own parameters by module
     * path (the replaced dense weights excluded), the atoms by dictionary key, the coefficients by
     * layer path. A tied output head (a second parameter over the embedding's storage) would be
     * listed under both names: build such models untied.
     */
    @Override
    public Map<String, Parameter> trainableParameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        Set<Parameter> seen = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (ModuleNode n : ModuleTree.of(model).nodes()) {
            if (n.block() instanceof AtomLinear) {
                AtomLinear l = (AtomLinear) n.block();
                if (l.bias() != null && seen.add(l.bias())) {
                    out.put(n.path() + ".bias", l.bias());
                }
                continue;
            }
            for (Pair<String, Parameter> p : n.block().getDirectParameters()) {
                Parameter param = p.getValue();
                if (!param.isInitialized() || replacedWeights.contains(param) || !seen.add(param)) {
                    continue;
                }
                String name = n.path().isEmpty() ? p.getKey() : n.path() + "." + p.getKey();
                out.put(name, param);
            }
        }
        out.putAll(atomsAndCoefficients());
        out.values().forEach(p -> p.freeze(false));
        return out;
    }

    private Map<String, Parameter> atomsAndCoefficients() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        atoms.forEach((k, d) -> out.put(k + ATOMS, d));
        layers.forEach((path, l) -> out.put(path + COEFFICIENTS, l.coefficients()));
        return out;
    }

    /**
     * Writes every trained tensor ({@link #trainableParameters()}) to one safetensors file (temp
     * name + rename).
     *
     * @param file the file to write
     * @throws IOException if it cannot be written
     */
    public void save(Path file) throws IOException {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        trainableParameters().forEach((k, p) -> tensors.put(k, p.getArray()));
        SafetensorsWriter.write(
                file,
                tensors,
                Map.of(
                        "format",
                        "masa-model",
                        "num_atoms",
                        String.valueOf(config.atoms()),
                        "num_groups",
                        String.valueOf(config.groups())));
    }

    /**
     * Loads a {@link #save}d file into this model (built with the same config on the same
     * architecture). Every tensor is checked (present, same shape) before any is copied.
     *
     * @param file a file written by {@link #save}
     * @throws IOException if it cannot be read
     * @throws IllegalArgumentException naming the missing, unexpected or mis-shaped tensors
     */
    public void load(Path file) throws IOException {
        Map<String, Parameter> expected = trainableParameters();
        try (SafetensorsFile f = SafetensorsFile.open(file);
                NDManager scratch = NDManager.newBaseManager()) {
            List<String> problems = new ArrayList<>();
            Set<String> unexpected = new TreeSet<>(f.names());
            unexpected.removeAll(expected.keySet());
            for (String key : unexpected) {
                problems.add("unexpected tensor " + key);
            }
            Map<String, NDArray> loaded = new LinkedHashMap<>();
            for (Map.Entry<String, Parameter> e : expected.entrySet()) {
                if (!f.names().contains(e.getKey())) {
                    problems.add(
                            "missing tensor "
                                    + e.getKey()
                                    + " "
                                    + e.getValue().getArray().getShape());
                    continue;
                }
                NDArray a = f.load(e.getKey(), scratch);
                if (!a.getShape().equals(e.getValue().getArray().getShape())) {
                    problems.add(
                            "tensor "
                                    + e.getKey()
                                    + " has shape "
                                    + a.getShape()
                                    + ", expected "
                                    + e.getValue().getArray().getShape());
                }
                loaded.put(e.getKey(), a);
            }
            if (!problems.isEmpty()) {
                throw new IllegalArgumentException(
                        file
                                + " does not fit this MASA model: "
                                + String.join(
                                        "; ", problems.subList(0, Math.min(20, problems.size())))
                                + (problems.size() > 20
                                        ? "; and " + (problems.size() - 20) + " more"
                                        : ""));
            }
            for (Map.Entry<String, Parameter> e : expected.entrySet()) {
                NDArray target = e.getValue().getArray();
                if (target.getDataType() != ai.djl.ndarray.types.DataType.FLOAT32) {
                    throw new IllegalArgumentException(
                            "MASA model load supports float32 models; "
                                    + e.getKey()
                                    + " is "
                                    + target.getDataType());
                }
                target.set(
                        loaded.get(e.getKey())
                                .toType(ai.djl.ndarray.types.DataType.FLOAT32, false)
                                .toFloatArray());
            }
        }
    }

    /**
     * Puts the dense linear layers back (their weights as they were at {@link #build}) and frees
     * the atoms.
     */
    @Override
    public void close() {
        for (int i = replacements.size() - 1; i >= 0; i--) {
            replacements.get(i).undo();
        }
        replacements.clear();
        for (AtomLinear l : layers.values()) {
            l.coefficients().close();
        }
        atoms.values().forEach(Parameter::close);
        layers.clear();
        atoms.clear();
    }
}
