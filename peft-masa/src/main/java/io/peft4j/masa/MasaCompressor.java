package io.peft4j.masa;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import io.peft4j.core.linalg.RandomizedSvd;
import io.peft4j.core.tree.AdapterWrapper;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleReplacer;
import io.peft4j.core.tree.ModuleTree;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * MASA as compression: every target weight is replaced by {@code sum_s c_ls D_s} from a Matrix PCA
 * of its projection type (and group), optionally plus a rank-k part of the residual {@code W_l -
 * sum_s c_ls D_s} (randomized SVD). {@link #compress} reads the model and returns a {@link
 * CompressedAttention}; the model is changed only by {@link CompressedAttention#applyTo}.
 *
 * <pre>{@code
 * MasaCompressor c = MasaCompressor.builder().targets("q_proj", "k_proj", "v_proj", "o_proj").atoms(2).build();
 * try (CompressedAttention ca = c.compress(model, manager)) {
 *     System.out.println(ca.report());      // parameters before/after, reduction, errors
 *     ca.save(Path.of("attn.masa.safetensors"));
 *     ca.applyTo(model);                    // dense weights = atoms x coefficients (+ residual part)
 * }
 * }</pre>
 */
public final class MasaCompressor {

    /** The targets, S and G, as the adapter's config holds them. */
    private final MasaConfig shared;

    private final int residualRank;
    private final long seed;
    private final int powerIterations;
    private final List<NDList> calibration;
    private final int refinementIterations;

    private MasaCompressor(Builder b, MasaConfig shared) {
        this.calibration = b.calibration;
        this.refinementIterations = b.refinementIterations;
        this.shared = shared;
        this.residualRank = b.residualRank;
        this.seed = b.seed;
        this.powerIterations = b.powerIterations;
    }

    /**
     * {@return a builder (targets default to {@link MasaConfig#DEFAULT_TARGETS}; atoms must be
     * set)}
     */
    public static Builder builder() {
        return new Builder();
    }

    /** {@return S, the atoms per dictionary} */
    public int atoms() {
        return shared.atoms();
    }

    /** {@return k, the residual rank kept per layer (0: none)} */
    public int residualRank() {
        return residualRank;
    }

    /**
     * Fits the dictionaries to {@code model}'s current target weights. The model is not changed.
     *
     * @param manager owns the returned arrays (close the result or the manager)
     * @param model the model whose target weights are fitted
     * @return the fitted dictionaries and coefficients
     * @throws IllegalArgumentException naming the target, group or shape that does not fit
     */
    public CompressedAttention compress(Block model, NDManager manager) {
        List<ModuleNode> nodes = shared.targets().select(ModuleTree.of(model));
        for (ModuleNode n : nodes) {
            if (n.block() instanceof AdapterWrapper || !(n.block() instanceof Linear)) {
                throw new IllegalArgumentException(
                        "MASA compression target '"
                                + n.path()
                                + "' is a "
                                + n.block().getClass().getName()
                                + "; it needs a plain ai.djl.nn.core.Linear (compress before wrapping)");
            }
        }
        List<Dictionaries.Group> plan = Dictionaries.of(nodes, shared.groups(), shared.atoms());
        Map<String, NDArray> grams =
                calibration == null ? Map.of() : recordGrams(model, nodes, manager);
        Map<String, double[]> outputErrors = new LinkedHashMap<>();
        List<CompressedAttention.Dictionary> dicts = new ArrayList<>();
        try {
            for (Dictionaries.Group g : plan) {
                List<NDArray> weights = new ArrayList<>();
                List<String> paths = new ArrayList<>();
                for (ModuleNode n : g.nodes()) {
                    weights.add(Dictionaries.weightOf(n.block()).getArray());
                    paths.add(n.path());
                }
                MatrixPca.Result fitted = MatrixPca.fit(weights, shared.atoms(), manager);
                MatrixPca.Result pca = fitted;
                if (calibration != null) {
                    List<NDArray> hs = new ArrayList<>();
                    for (String path : paths) {
                        hs.add(grams.get(path));
                    }
                    DataAwareRefinement.Result r =
                            DataAwareRefinement.refine(
                                    weights,
                                    hs,
                                    fitted.atoms(),
                                    fitted.coefficients(),
                                    refinementIterations,
                                    manager);
                    fitted.close();
                    pca = new MatrixPca.Result(r.atoms(), r.coefficients(), fitted.eigenvalues());
                    outputErrors.put(
                            g.key(), new double[] {r.objectiveBefore(), r.objectiveAfter()});
                }
                long out = weights.get(0).getShape().get(0);
                long in = weights.get(0).getShape().get(1);
                int k = (int) Math.min(residualRank, Math.min(out, in));
                NDArray[] us = new NDArray[paths.size()];
                NDArray[] vt = new NDArray[paths.size()];
                if (k > 0) {
                    for (int l = 0; l < paths.size(); l++) {
                        try (NDManager scratch = manager.newSubManager()) {
                            NDArray recon = pca.reconstruct(l);
                            recon.attach(scratch);
                            NDArray residual = weights.get(l).sub(recon);
                            residual.attach(scratch);
                            try (RandomizedSvd.Result svd =
                                    RandomizedSvd.compute(
                                            residual, k, 8, powerIterations, seed + l)) {
                                us[l] =
                                        svd.u()
                                                .mul(svd.s().reshape(1, k))
                                                .toType(weights.get(l).getDataType(), false);
                                // duplicate(), not toType(type, true): for an unchanged type
                                // DJL's toType returns an alias of the same storage even with
                                // copy=true, and vt's storage is Java memory that only the SVD
                                // result's handle keeps alive; after svd.close() and a GC the
                                // alias read freed memory (relative errors of Infinity, outputs
                                // that changed after a reload, depending on GC timing).
                                NDArray cast = svd.vt().toType(weights.get(l).getDataType(), false);
                                vt[l] = cast.duplicate();
                                if (cast != svd.vt()) {
                                    cast.close();
                                }
                                us[l].attach(manager);
                                vt[l].attach(manager);
                            }
                        }
                    }
                }
                dicts.add(
                        new CompressedAttention.Dictionary(
                                g.key(),
                                paths,
                                pca.atoms(),
                                pca.coefficients(),
                                pca.eigenvalues(),
                                k > 0 ? us : null,
                                k > 0 ? vt : null));
            }
        } catch (RuntimeException e) {
            dicts.forEach(CompressedAttention.Dictionary::close);
            throw e;
        } finally {
            grams.values().forEach(NDArray::close);
        }
        CompressedAttention result = new CompressedAttention(dicts, residualRank);
        result.setOutputErrors(outputErrors);
        result.measureErrors(model);
        return result;
    }

    /**
     * Runs the calibration inputs through {@code model} with a recorder in place of every target
     * and returns each target's input Gram matrix {@code X^T X} by path. The model is restored
     * after.
     */
    private Map<String, NDArray> recordGrams(
            Block model, List<ModuleNode> nodes, NDManager manager) {
        Map<String, ActivationRecorder> recorders = new LinkedHashMap<>();
        List<ModuleReplacer.Replacement> installed = new ArrayList<>();
        Map<String, NDArray> grams = new LinkedHashMap<>();
        try {
            for (ModuleNode n : nodes) {
                ActivationRecorder r = new ActivationRecorder(n.block(), manager);
                installed.add(ModuleReplacer.replace(n, r));
                recorders.put(n.path(), r);
            }
            for (NDList inputs : calibration) {
                try (NDManager step = manager.newSubManager()) {
                    NDList in = new NDList();
                    for (NDArray a : inputs) {
                        NDArray d = a.duplicate();
                        d.attach(step);
                        in.add(d);
                    }
                    model.forward(new ParameterStore(step, false), in, false).close();
                }
            }
            for (Map.Entry<String, ActivationRecorder> e : recorders.entrySet()) {
                if (e.getValue().gram() == null) {
                    throw new IllegalArgumentException(
                            "MASA calibration: no calibration input reached target '"
                                    + e.getKey()
                                    + "' (do the inputs fit the model's forward?)");
                }
                grams.put(e.getKey(), e.getValue().gram());
            }
            return grams;
        } catch (RuntimeException e) {
            recorders
                    .values()
                    .forEach(
                            r -> {
                                if (r.gram() != null) {
                                    r.gram().close();
                                }
                            });
            throw e;
        } finally {
            for (int i = installed.size() - 1; i >= 0; i--) {
                installed.get(i).undo();
            }
        }
    }

    /** Builder of {@link MasaCompressor}. */
    public static final class Builder {
        // Targets, S and G mean here what they mean in a MasaConfig: its builder checks them and
        // supplies the default targets, so the compressor and the adapter cannot disagree.
        private final MasaConfig.Builder shared = MasaConfig.builder();
        private int residualRank;
        private long seed = 42;
        private int powerIterations = 2;
        private List<NDList> calibration;
        private int refinementIterations = 10;

        private Builder() {}

        /**
         * Calibration inputs (each one the model's forward inputs, e.g. {@code [ids]} of a few
         * sequences without padding): turns on the data-aware local refinement, which fits atoms
         * and coefficients to each projection's output on these activations instead of to its
         * weight. The arrays are copied per forward and not kept.
         *
         * @param inputs the calibration inputs, at least one, none empty
         * @return this builder
         * @throws IllegalArgumentException if the list is null, empty, or holds an empty input
         */
        public Builder calibration(List<NDList> inputs) {
            if (inputs == null || inputs.isEmpty()) {
                throw new IllegalArgumentException(
                        "MASA calibration data is empty: give at least one input"
                                + " (the paper uses a few hundred sequences)");
            }
            for (int i = 0; i < inputs.size(); i++) {
                if (inputs.get(i) == null || inputs.get(i).isEmpty()) {
                    throw new IllegalArgumentException(
                            "MASA calibration input "
                                    + i
                                    + " is empty: each input is the model's"
                                    + " forward inputs, e.g. [input_ids]");
                }
            }
            this.calibration = List.copyOf(inputs);
            return this;
        }

        /**
         * Rounds of the refinement's alternating least squares (default 10, at least 1).
         *
         * @param n the number of rounds
         * @return this builder
         */
        public Builder refinementIterations(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("refinementIterations must be >= 1, got " + n);
            }
            this.refinementIterations = n;
            return this;
        }

        /**
         * Targets by name (exact path or {@code .name} suffix); default {@link
         * MasaConfig#DEFAULT_TARGETS}.
         *
         * @param names targets by name (exact path or {@code .name} suffix); default {@link
         *     MasaConfig#DEFAULT_TARGETS}
         * @return this builder
         */
        public Builder targets(String... names) {
            return with(c -> c.targets(names));
        }

        /**
         * Targets as one full-match regex.
         *
         * @param regex targets as one full-match regex
         * @return this builder
         */
        public Builder targetRegex(String regex) {
            return with(c -> c.targetRegex(regex));
        }

        /**
         * S, atoms per dictionary (>= 1, at most the layers of the smallest group).
         *
         * @param atoms S, atoms per dictionary (>= 1, at most the layers of the smallest group)
         * @return this builder
         */
        public Builder atoms(int atoms) {
            return with(c -> c.atoms(atoms));
        }

        /**
         * G, consecutive-layer groups per projection type (default 1).
         *
         * @param groups G, consecutive-layer groups per projection type (default 1)
         * @return this builder
         */
        public Builder groups(int groups) {
            return with(c -> c.groups(groups));
        }

        /**
         * k: keep a rank-k part of each layer's residual (default 0: drop it).
         *
         * @param k keep a rank-k part of each layer's residual (default 0: drop it)
         * @return this builder
         */
        public Builder residualRank(int k) {
            if (k < 0) {
                throw new IllegalArgumentException("residualRank must be >= 0, got " + k);
            }
            this.residualRank = k;
            return this;
        }

        /**
         * Seed of the randomized SVD of the residual (default 42).
         *
         * @param seed seed of the randomized SVD of the residual (default 42)
         * @return this builder
         */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /**
         * Power iterations of the randomized SVD (default 2).
         *
         * @param n power iterations of the randomized SVD (default 2)
         * @return this builder
         */
        public Builder powerIterations(int n) {
            if (n < 0) {
                throw new IllegalArgumentException("powerIterations must be >= 0, got " + n);
            }
            this.powerIterations = n;
            return this;
        }

        /**
         * Builds the compressor.
         *
         * @return the compressor
         * @throws IllegalArgumentException if S was not set
         */
        public MasaCompressor build() {
            return new MasaCompressor(this, shared.build());
        }

        private Builder with(Consumer<MasaConfig.Builder> setting) {
            setting.accept(shared);
            return this;
        }
    }
}
