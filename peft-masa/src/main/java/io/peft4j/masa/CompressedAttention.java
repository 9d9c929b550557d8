package io.peft4j.masa;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.io.SafetensorsFile;
import io.peft4j.core.io.SafetensorsWriter;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The result of {@link MasaCompressor}: per dictionary S shared atoms, an L x S coefficient table
 * and, when a residual rank k was asked for, per layer {@code U_k S_k} (out, k) and {@code V_k^T}
 * (k, in). It can fold itself into a model's dense weights ({@link #applyTo}) and be saved as one
 * compact safetensors file ({@link #save}, {@link #load}) holding only those tensors.
 *
 * <p>File layout: {@code <dictionary>.masa_atoms} (S, out, in), {@code
 * <dictionary>.masa_coefficients} (L, S), {@code <dictionary>.masa_eigenvalues} (L), {@code
 * <path>.masa_residual_us} / {@code _vt}; {@code __metadata__}: {@code format=masa}, {@code masa} =
 * JSON of the dictionaries' keys and member paths and the residual rank.
 */
public final class CompressedAttention implements AutoCloseable {

    /** One dictionary of the compressed model. */
    static final class Dictionary {
        final String key;
        final List<String> paths;
        final NDArray atoms;
        final double[][] coefficients;
        final double[] eigenvalues;
        final NDArray[] residualUs; // null without residual
        final NDArray[] residualVt;
        double[] relativeErrors; // per layer, vs the weights compressed (NaN when unknown)

        Dictionary(
                String key,
                List<String> paths,
                NDArray atoms,
                double[][] coefficients,
                double[] eigenvalues,
                NDArray[] residualUs,
                NDArray[] residualVt) {
            this.key = key;
            this.paths = List.copyOf(paths);
            this.atoms = atoms;
            this.coefficients = coefficients;
            this.eigenvalues = eigenvalues;
            this.residualUs = residualUs;
            this.residualVt = residualVt;
            this.relativeErrors = new double[paths.size()];
            java.util.Arrays.fill(relativeErrors, Double.NaN);
        }

        long out() {
            return atoms.getShape().get(1);
        }

        long in() {
            return atoms.getShape().get(2);
        }

        int numAtoms() {
            return (int) atoms.getShape().get(0);
        }

        NDArray dense(int layer) {
            NDArray w = MatrixPca.combine(atoms, coefficients[layer]);
            if (residualUs != null) {
                NDArray r = residualUs[layer].matMul(residualVt[layer]);
                w.addi(r);
                r.close();
            }
            return w;
        }

        void close() {
            atoms.close();
            if (residualUs != null) {
                for (int i = 0; i < residualUs.length; i++) {
                    residualUs[i].close();
                    residualVt[i].close();
                }
            }
        }
    }

    private final List<Dictionary> dictionaries;
    private final int residualRank;
    private java.util.Map<String, double[]> outputErrors = java.util.Map.of();

    CompressedAttention(List<Dictionary> dictionaries, int residualRank) {
        this.dictionaries = List.copyOf(dictionaries);
        this.residualRank = residualRank;
    }

    void setOutputErrors(java.util.Map<String, double[]> errors) {
        this.outputErrors = java.util.Map.copyOf(errors);
    }

    /**
     * With calibration data: the dictionary's summed output error {@code sum_l ||X_l (W_l -
     * Ŵ_l)^T||^2} on the calibration activations, {@code [Matrix PCA, after refinement]}; null
     * without calibration (or for a loaded file).
     *
     * @param key a dictionary key, as in {@link #dictionaryKeys()}
     * @return a copy of {@code [Matrix PCA, after refinement]}, or null
     */
    public double[] calibrationOutputError(String key) {
        double[] e = outputErrors.get(key);
        return e == null ? null : e.clone();
    }

    /** {@return the dictionary keys, e.g. {@code model.layers.0-4.self_attn.q_proj}} */
    public List<String> dictionaryKeys() {
        List<String> keys = new ArrayList<>();
        dictionaries.forEach(d -> keys.add(d.key));
        return keys;
    }

    /** {@return every compressed module path} */
    public List<String> paths() {
        List<String> all = new ArrayList<>();
        dictionaries.forEach(d -> all.addAll(d.paths));
        return all;
    }

    /**
     * The dense weight that replaces module {@code path}: {@code sum_s c_ls D_s (+ U_k S_k V_k^T)}.
     *
     * @param path the module's dotted path
     * @return the dense weight (out, in)
     */
    public NDArray denseWeight(String path) {
        for (Dictionary d : dictionaries) {
            int l = d.paths.indexOf(path);
            if (l >= 0) {
                return d.dense(l);
            }
        }
        throw new IllegalArgumentException(
                "'" + path + "' is not a compressed module; have " + paths());
    }

    /**
     * The atoms (S, out, in) of dictionary {@code key} (owned by this object).
     *
     * @param key the dictionary key (projection type with layer range)
     * @return the atoms
     */
    public NDArray atoms(String key) {
        return dict(key).atoms;
    }

    /**
     * The L x S coefficients of dictionary {@code key} (a copy).
     *
     * @param key the dictionary key (projection type with layer range)
     * @return the coefficients, one row per layer
     */
    public double[][] coefficients(String key) {
        double[][] c = dict(key).coefficients;
        double[][] copy = new double[c.length][];
        for (int i = 0; i < c.length; i++) {
            copy[i] = c[i].clone();
        }
        return copy;
    }

    private Dictionary dict(String key) {
        for (Dictionary d : dictionaries) {
            if (d.key.equals(key)) {
                return d;
            }
        }
        throw new IllegalArgumentException("No dictionary '" + key + "'; have " + dictionaryKeys());
    }

    /** {@return weights of the targets before compression: sum of L * out * in} */
    public long originalParameters() {
        long n = 0;
        for (Dictionary d : dictionaries) {
            n += d.paths.size() * d.out() * d.in();
        }
        return n;
    }

    /**
     * Numbers stored after compression: per dictionary {@code S*out*in + L*S}, plus {@code
     * L*k*(out+in)}.
     *
     * @return the stored numbers
     */
    public long compressedParameters() {
        long n = 0;
        for (Dictionary d : dictionaries) {
            n += d.numAtoms() * d.out() * d.in() + (long) d.paths.size() * d.numAtoms();
            if (d.residualUs != null) {
                n += d.paths.size() * d.residualUs[0].getShape().get(1) * (d.out() + d.in());
            }
        }
        return n;
    }

    /** {@return {@code 1 - compressed / original}} */
    public double reduction() {
        return 1.0 - (double) compressedParameters() / originalParameters();
    }

    /**
     * Per-layer relative Frobenius errors {@code ||W - W_hat|| / ||W||} of dictionary {@code key},
     * measured at compression.
     *
     * @param key the dictionary key (projection type with layer range)
     * @return one error per layer
     */
    public double[] relativeErrors(String key) {
        return dict(key).relativeErrors.clone();
    }

    void measureErrors(Block model) {
        ModuleTree tree = ModuleTree.of(model);
        for (Dictionary d : dictionaries) {
            for (int l = 0; l < d.paths.size(); l++) {
                NDArray w = Dictionaries.weightOf(tree.get(d.paths.get(l)).block()).getArray();
                try (NDManager scratch = w.getManager().newSubManager()) {
                    NDArray hat = d.dense(l);
                    hat.attach(scratch);
                    NDArray diff = w.sub(hat);
                    diff.attach(scratch);
                    double num =
                            diff.square()
                                    .sum()
                                    .toType(ai.djl.ndarray.types.DataType.FLOAT64, false)
                                    .getDouble();
                    NDArray ws =
                            w.square().sum().toType(ai.djl.ndarray.types.DataType.FLOAT64, false);
                    ws.attach(scratch);
                    d.relativeErrors[l] = Math.sqrt(num / ws.getDouble());
                }
            }
        }
    }

    /**
     * Writes the dense weights into {@code model}'s target Linears (all shapes are checked first).
     *
     * @param model the model whose target Linears receive the dense weights
     * @throws IllegalArgumentException naming a path that is missing, not a Linear or of another
     *     shape
     */
    public void applyTo(Block model) {
        ModuleTree tree = ModuleTree.of(model);
        List<Parameter> weights = new ArrayList<>();
        for (Dictionary d : dictionaries) {
            for (String path : d.paths) {
                ModuleNode n = tree.get(path);
                if (!(n.block() instanceof Linear)) {
                    throw new IllegalArgumentException(
                            "'"
                                    + path
                                    + "' is a "
                                    + n.block().getClass().getName()
                                    + ", not a plain Linear (apply compression before wrapping the model)");
                }
                Parameter p = Dictionaries.weightOf(n.block());
                Shape want = new Shape(d.out(), d.in());
                if (!p.getArray().getShape().equals(want)) {
                    throw new IllegalArgumentException(
                            "'"
                                    + path
                                    + ".weight' has shape "
                                    + p.getArray().getShape()
                                    + ", the compressed weight is "
                                    + want);
                }
                weights.add(p);
            }
        }
        int i = 0;
        for (Dictionary d : dictionaries) {
            for (int l = 0; l < d.paths.size(); l++) {
                NDArray target = weights.get(i++).getArray();
                NDArray w = d.dense(l);
                NDArray cast = w.toType(target.getDataType(), false);
                cast.copyTo(target);
                if (cast != w) {
                    cast.close();
                }
                w.close();
            }
        }
    }

    /** {@return a table of the dictionaries: layers, shape, S, relative errors; and the totals} */
    public String report() {
        StringBuilder sb = new StringBuilder();
        for (Dictionary d : dictionaries) {
            double max = 0;
            double mean = 0;
            for (double e : d.relativeErrors) {
                max = Math.max(max, e);
                mean += e / d.relativeErrors.length;
            }
            sb.append(
                    String.format(
                            Locale.ROOT,
                            "%-48s L=%d (%d x %d) S=%d rel.err mean %.4f max %.4f%n",
                            d.key,
                            d.paths.size(),
                            d.out(),
                            d.in(),
                            d.numAtoms(),
                            mean,
                            max));
        }
        sb.append(
                String.format(
                        Locale.ROOT,
                        "attention parameters %,d -> %,d (%.1f%% fewer)%s",
                        originalParameters(),
                        compressedParameters(),
                        100 * reduction(),
                        residualRank > 0 ? ", residual rank " + residualRank : ""));
        return sb.toString();
    }

    /**
     * Writes the compact file (atomically).
     *
     * @param file the file to write
     * @throws IOException when the file cannot be written
     */
    public void save(Path file) throws IOException {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        List<NDArray> temp = new ArrayList<>();
        JsonObject meta = new JsonObject();
        JsonArray ds = new JsonArray();
        try {
            for (Dictionary d : dictionaries) {
                NDManager m = d.atoms.getManager();
                tensors.put(d.key + ".masa_atoms", d.atoms);
                int l = d.paths.size();
                int s = d.numAtoms();
                float[] c = new float[l * s];
                for (int i = 0; i < l; i++) {
                    for (int j = 0; j < s; j++) {
                        c[i * s + j] = (float) d.coefficients[i][j];
                    }
                }
                NDArray ca = m.create(c, new Shape(l, s));
                temp.add(ca);
                tensors.put(d.key + ".masa_coefficients", ca);
                NDArray ev = m.create(d.eigenvalues);
                temp.add(ev);
                tensors.put(d.key + ".masa_eigenvalues", ev);
                if (d.residualUs != null) {
                    for (int i = 0; i < l; i++) {
                        tensors.put(d.paths.get(i) + ".masa_residual_us", d.residualUs[i]);
                        tensors.put(d.paths.get(i) + ".masa_residual_vt", d.residualVt[i]);
                    }
                }
                JsonObject o = new JsonObject();
                o.addProperty("key", d.key);
                JsonArray ps = new JsonArray();
                d.paths.forEach(ps::add);
                o.add("paths", ps);
                ds.add(o);
            }
            meta.add("dictionaries", ds);
            meta.addProperty("residual_rank", residualRank);
            SafetensorsWriter.write(
                    file, tensors, Map.of("format", "masa", "masa", new Gson().toJson(meta)));
        } finally {
            temp.forEach(NDArray::close);
        }
    }

    /**
     * Reads a file written by {@link #save}.
     *
     * @param file a file written by {@link #save}
     * @param manager owns the loaded arrays
     * @return the compressed attention
     * @throws IOException if the file is unreadable or lacks a tensor its metadata names
     */
    public static CompressedAttention load(Path file, NDManager manager) throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            String json = f.metadata().get("masa");
            if (json == null || !"masa".equals(f.metadata().get("format"))) {
                throw new IOException(
                        file
                                + " is not a MASA compressed-attention file (no format=masa metadata)");
            }
            JsonObject meta = JsonParser.parseString(json).getAsJsonObject();
            int residualRank = meta.get("residual_rank").getAsInt();
            List<Dictionary> dicts = new ArrayList<>();
            for (JsonElement e : meta.getAsJsonArray("dictionaries")) {
                JsonObject o = e.getAsJsonObject();
                String key = o.get("key").getAsString();
                List<String> paths = new ArrayList<>();
                o.getAsJsonArray("paths").forEach(p -> paths.add(p.getAsString()));
                NDArray atoms = need(f, key + ".masa_atoms", manager);
                NDArray ca = need(f, key + ".masa_coefficients", manager);
                NDArray ev = need(f, key + ".masa_eigenvalues", manager);
                int l = paths.size();
                int s = (int) atoms.getShape().get(0);
                if (!ca.getShape().equals(new Shape(l, s))) {
                    throw new IOException(
                            file
                                    + ": "
                                    + key
                                    + ".masa_coefficients has shape "
                                    + ca.getShape()
                                    + ", expected "
                                    + new Shape(l, s));
                }
                float[] cf = ca.toFloatArray();
                double[][] c = new double[l][s];
                for (int i = 0; i < l; i++) {
                    for (int j = 0; j < s; j++) {
                        c[i][j] = cf[i * s + j];
                    }
                }
                double[] eig =
                        ev.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).toDoubleArray();
                ca.close();
                ev.close();
                NDArray[] us = null;
                NDArray[] vt = null;
                if (residualRank > 0) {
                    us = new NDArray[l];
                    vt = new NDArray[l];
                    for (int i = 0; i < l; i++) {
                        us[i] = need(f, paths.get(i) + ".masa_residual_us", manager);
                        vt[i] = need(f, paths.get(i) + ".masa_residual_vt", manager);
                    }
                }
                dicts.add(new Dictionary(key, paths, atoms, c, eig, us, vt));
            }
            return new CompressedAttention(dicts, residualRank);
        }
    }

    private static NDArray need(SafetensorsFile f, String name, NDManager manager)
            throws IOException {
        if (!f.contains(name)) {
            throw new IOException(
                    f.path() + " has no tensor '" + name + "' (named by its masa metadata)");
        }
        return f.load(name, manager);
    }

    @Override
    public void close() {
        dictionaries.forEach(Dictionary::close);
    }
}
