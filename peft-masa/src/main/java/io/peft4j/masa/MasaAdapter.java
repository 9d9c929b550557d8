package io.peft4j.masa;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
import io.peft4j.core.spi.AdapterTensors;
import io.peft4j.core.spi.LayeredAdapter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One named MASA adapter across its modules and dictionaries.
 *
 * <p>File keys: {@code base_model.model.<path>.masa_coefficients} (S) per layer; with trained
 * atoms, {@code base_model.model.<dictionary>.masa_atoms} (S, out, in) once per dictionary, where
 * {@code <dictionary>} is the type path with the group's layer range, e.g. {@code
 * model.layers.0-2.self_attn.q_proj}. Frozen and saved: {@code <dictionary>.masa_eigenvalues} (the
 * Gram spectrum, L_g numbers), checked at load against the PCA recomputed from the base model so
 * that an adapter cannot silently be loaded onto a different base.
 */
public final class MasaAdapter extends LayeredAdapter<MasaLinear, MasaLinear.Entry, MasaConfig> {

    private static final String PREFIX = AdapterTensors.PREFIX;

    /**
     * Relative tolerance (of the largest eigenvalue) when checking the base model's spectrum at
     * load.
     */
    static final double SPECTRUM_TOLERANCE = 1e-3;

    private final List<MasaLinear.Dictionary> dictionaries = new ArrayList<>();

    MasaAdapter(AdapterContext ctx, MasaConfig config, String name) {
        super(ctx, config, name);
    }

    /** The modules this adapter lives in (the injector adds to them). */
    AdapterLayers<MasaLinear, MasaLinear.Entry> layers() {
        return layers;
    }

    void addDictionary(MasaLinear.Dictionary dict) {
        dictionaries.add(dict);
    }

    /** {@return the dictionary keys (projection type with layer range), in order} */
    public List<String> dictionaryKeys() {
        List<String> keys = new ArrayList<>();
        dictionaries.forEach(d -> keys.add(d.key));
        return keys;
    }

    /**
     * The Gram eigenvalues (descending) of dictionary {@code key}, as fitted at attach time.
     *
     * @param key the dictionary key (projection type with layer range)
     * @return the eigenvalues, descending
     */
    public double[] eigenvalues(String key) {
        for (MasaLinear.Dictionary d : dictionaries) {
            if (d.key.equals(key)) {
                return d.eigenvalues.clone();
            }
        }
        throw new IllegalArgumentException(
                "No MASA dictionary '" + key + "'; have " + dictionaryKeys());
    }

    /**
     * The wrapper at {@code path}.
     *
     * @param path the module's dotted path
     * @return the wrapper
     */
    public MasaLinear layer(String path) {
        MasaLinear l = layers.layer(path);
        if (l == null) {
            throw new IllegalArgumentException(
                    "MASA adapter '" + name() + "' is not at '" + path + "'; paths: " + paths());
        }
        return l;
    }

    /**
     * The atoms layer {@code path} uses: the shared trainable Parameter (one object per
     * dictionary), or {@code null} in coefficient mode.
     *
     * @param path the module's dotted path
     * @return the shared atoms, or null in coefficient mode
     */
    public Parameter sharedAtoms(String path) {
        return layer(path).sharedAtoms(name());
    }

    /**
     * Layer {@code path}'s current effective weight {@code W0 + c.D - c0.D0} (a new array).
     *
     * @param path the module's dotted path
     * @return the effective weight
     */
    public NDArray effectiveWeight(String path) {
        MasaLinear l = layer(path);
        MasaLinear.Entry e = layers.entry(path);
        NDArray w0 = l.baseWeight().getArray();
        if (e.merged()) {
            return w0.duplicate();
        }
        NDArray delta = l.weightDelta(e);
        NDArray result = w0.add(delta);
        delta.close();
        return result;
    }

    @Override
    public Map<String, Parameter> parameters() {
        Map<String, Parameter> result = new LinkedHashMap<>();
        for (MasaLinear.Dictionary d : dictionaries) {
            if (d.atoms != null) {
                result.put(PREFIX + d.key + ".masa_atoms", d.atoms);
            }
        }
        layers.forEach(
                (path, layer, e) ->
                        result.put(PREFIX + path + ".masa_coefficients", e.coefficients));
        return result;
    }

    @Override
    public Map<String, NDArray> frozenState() {
        Map<String, NDArray> result = new LinkedHashMap<>();
        for (MasaLinear.Dictionary d : dictionaries) {
            NDArray ev = spectrum(d);
            result.put(PREFIX + d.key + ".masa_eigenvalues", ev);
        }
        return result;
    }

    private NDArray spectrum(MasaLinear.Dictionary d) {
        float[] v = new float[d.eigenvalues.length];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) d.eigenvalues[i];
        }
        NDArray a = ctx.manager().create(v);
        a.attach(ctx.manager());
        return a;
    }

    @Override
    public Map<String, AdapterTensors.Spec> tensorSpecs() {
        Map<String, AdapterTensors.Spec> specs =
                AdapterTensors.specsOf(parameters(), Map.of(), "num_atoms=" + config.atoms());
        for (MasaLinear.Dictionary d : dictionaries) {
            // optional: files written without the spectrum fingerprint still load
            String key = PREFIX + d.key + ".masa_eigenvalues";
            specs.put(
                    key,
                    AdapterTensors.Spec.weight(key, new Shape(d.eigenvalues.length), "")
                            .optional());
        }
        return specs;
    }

    /**
     * The base model's Gram spectrum, recomputed at attach, must be the one the file was fitted on
     * (when the file holds it).
     */
    @Override
    protected void checkValues(Map<String, NDArray> tensors, List<String> problems) {
        for (MasaLinear.Dictionary d : dictionaries) {
            NDArray found = tensors.get(PREFIX + d.key + ".masa_eigenvalues");
            if (found == null) {
                continue;
            }
            float[] saved = found.toFloatArray();
            double tol = SPECTRUM_TOLERANCE * Math.abs(d.eigenvalues[0]);
            for (int i = 0; i < saved.length; i++) {
                if (Math.abs(saved[i] - d.eigenvalues[i]) > tol) {
                    problems.add(
                            "dictionary "
                                    + d.key
                                    + ": the base model's weights differ from those the adapter was"
                                    + " fitted on (Gram eigenvalue "
                                    + i
                                    + " is "
                                    + d.eigenvalues[i]
                                    + ", the file says "
                                    + saved[i]
                                    + ")");
                    break;
                }
            }
        }
    }

    @Override
    public void merge() {
        layers.mergeAllOrNothing("MASA adapter", (path, layer, e) -> effectiveWeight(path));
    }

    @Override
    public void unmerge() {
        layers.unmergeAll(
                (path, layer, e) -> {
                    NDArray delta = layer.weightDelta(e);
                    layer.baseWeight().getArray().subi(delta);
                    delta.close();
                });
    }

    /** The dictionaries (each layer closed its own coefficients). */
    @Override
    protected void closeShared() {
        dictionaries.forEach(MasaLinear.Dictionary::close);
        dictionaries.clear();
    }
}
