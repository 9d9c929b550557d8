package io.peft4j.masa;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
import io.peft4j.core.spi.AdapterParameters;
import io.peft4j.core.spi.LayeredAdapter;
import io.peft4j.core.tree.ModuleNode;
import java.util.ArrayList;
import java.util.List;

/**
 * Puts a MASA adapter into every target: groups the targets into dictionaries, runs Matrix PCA on
 * each group's current base weights, wraps each {@link Linear} in a {@link MasaLinear} (or adds to
 * the one there) with coefficients starting at the PCA's. All targets are checked before anything
 * changes; a failure midway is rolled back.
 */
final class MasaInjector {

    private MasaInjector() {}

    static MasaAdapter inject(AdapterContext ctx, MasaConfig config, String name) {
        List<ModuleNode> targets = config.targets().select(ctx.tree());
        for (ModuleNode node : targets) {
            checkSupported(node);
        }
        List<Dictionaries.Group> groups = Dictionaries.of(targets, config.groups(), config.atoms());
        return LayeredAdapter.rollBackOnFailure(
                new MasaAdapter(ctx, config, name),
                adapter -> {
                    for (Dictionaries.Group group : groups) {
                        List<NDArray> weights = new ArrayList<>();
                        for (ModuleNode n : group.nodes()) {
                            weights.add(Dictionaries.weightOf(n.block()).getArray());
                        }
                        MatrixPca.Result pca =
                                MatrixPca.fit(weights, config.atoms(), ctx.manager());
                        NDArray d0 = pca.atoms();
                        Parameter trainable = null;
                        if (config.mode() == MasaMode.COEFFICIENTS_AND_ATOMS) {
                            trainable =
                                    AdapterParameters.trainable(
                                            ctx.manager(), "masa_atoms." + name, d0.duplicate());
                        }
                        MasaLinear.Dictionary dict =
                                new MasaLinear.Dictionary(
                                        group.key(), d0, trainable, pca.eigenvalues());
                        adapter.addDictionary(dict);
                        List<ModuleNode> nodes = group.nodes();
                        for (int l = 0; l < nodes.size(); l++) {
                            double[] start = pca.coefficients()[l];
                            adapter.layers()
                                    .attach(
                                            nodes.get(l),
                                            MasaLinear.class,
                                            base -> new MasaLinear(base, ctx.runtime()),
                                            layer -> {
                                                NDArray c = vector(ctx.manager(), start, d0);
                                                NDArray c0 = c.duplicate();
                                                c0.attach(ctx.manager());
                                                return new MasaLinear.Entry(
                                                        dict,
                                                        AdapterParameters.trainable(
                                                                ctx.manager(),
                                                                "masa_coefficients." + name,
                                                                c),
                                                        c0);
                                            });
                        }
                    }
                });
    }

    private static NDArray vector(NDManager manager, double[] values, NDArray like) {
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) values[i];
        }
        NDArray a = manager.create(f, new Shape(f.length)).toDevice(like.getDevice(), false);
        if (a.getDataType() != like.getDataType()) {
            a = a.toType(like.getDataType(), false);
        }
        a.attach(manager);
        return a;
    }

    private static void checkSupported(ModuleNode node) {
        MasaLinear existing = AdapterLayers.wrapperAt(node, MasaLinear.class);
        if (existing != null) {
            if (existing.anyMerged()) {
                throw new IllegalStateException(
                        "Module '"
                                + node.path()
                                + "' has a merged MASA adapter; unmerge before adding"
                                + " another (the dictionaries are fitted to the unmerged base weights)");
            }
            return;
        }
        AdapterLayers.requireLinear(node, "MASA");
    }
}
