package io.peft4j.mos;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.spi.AdapterBudget;
import io.peft4j.core.spi.AdapterContext;
import io.peft4j.core.spi.AdapterLayers;
import io.peft4j.core.spi.AdapterParameters;
import io.peft4j.core.spi.LayeredAdapter;
import io.peft4j.core.tree.ModuleNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Puts a MoS adapter into every target module: groups the targets by projection type, creates one
 * pool pair per type, draws each layer's frozen index tables, and wraps each {@link Linear} in a
 * {@link MosLayer} (or adds to the one already there). Everything is checked before anything
 * changes; a failure midway is rolled back.
 */
final class MosInjector {

    private MosInjector() {}

    static MosAdapter inject(AdapterContext ctx, MosConfig config, String name) {
        List<ModuleNode> targets = config.targets().select(ctx.tree());
        Map<String, List<ModuleNode>> groups = new LinkedHashMap<>();
        for (ModuleNode node : targets) {
            checkSupported(node);
            groups.computeIfAbsent(groupOf(node.path()), k -> new ArrayList<>()).add(node);
        }
        int l = config.shardsPerVector();
        long total = 0;
        for (Map.Entry<String, List<ModuleNode>> g : groups.entrySet()) {
            long[] shape0 = shape(g.getValue().get(0));
            for (ModuleNode node : g.getValue()) {
                long[] shape = shape(node);
                if (shape[0] != shape0[0] || shape[1] != shape0[1]) {
                    throw new IllegalArgumentException(
                            "MoS shares one pool per projection type, but '"
                                    + node.path()
                                    + "' has weight (out, in) = ("
                                    + shape[0]
                                    + ", "
                                    + shape[1]
                                    + ") while '"
                                    + g.getValue().get(0).path()
                                    + "' of the same type '"
                                    + g.getKey()
                                    + "' has ("
                                    + shape0[0]
                                    + ", "
                                    + shape0[1]
                                    + ")");
                }
            }
            if (shape0[1] % l != 0 || shape0[0] % l != 0) {
                throw new IllegalArgumentException(
                        "MoS shards per vector l = "
                                + l
                                + " must divide the in and out features of '"
                                + g.getKey()
                                + "', which are in = "
                                + shape0[1]
                                + ", out = "
                                + shape0[0]
                                + "; choose l dividing both");
            }
            config.checkLayers(g.getKey(), g.getValue().size());
            total =
                    AdapterBudget.sum(
                            "MoS pools",
                            total,
                            poolElements(
                                    g.getKey(), g.getValue().size(), shape0[1], shape0[0], config));
        }
        AdapterBudget.check(
                "MoS adapter '"
                        + name
                        + "' (r="
                        + config.rank()
                        + ", equivalent_rank v="
                        + config.equivalentRank()
                        + ")",
                total,
                ctx.root());
        return LayeredAdapter.rollBackOnFailure(
                new MosAdapter(ctx, config, name),
                adapter -> {
                    for (Map.Entry<String, List<ModuleNode>> g : groups.entrySet()) {
                        List<ModuleNode> nodes = g.getValue();
                        MosPool pool = createPool(ctx.manager(), g.getKey(), nodes, config, name);
                        adapter.addPool(pool);
                        for (int i = 0; i < nodes.size(); i++) {
                            int layerIndex = i;
                            adapter.layers()
                                    .attach(
                                            nodes.get(i),
                                            MosLayer.class,
                                            base -> new MosLayer(base, ctx.runtime()),
                                            layer -> {
                                                long[][] tables =
                                                        indexTables(
                                                                pool,
                                                                layerIndex,
                                                                config.rank(),
                                                                config.seed());
                                                NDArray like = pool.a.getArray();
                                                return new MosLayer.Slot(
                                                        pool,
                                                        layerIndex,
                                                        index(ctx.manager(), tables[0], like),
                                                        index(ctx.manager(), tables[1], like));
                                            });
                        }
                    }
                });
    }

    /**
     * The projection type of a module: its path with every all-digit segment (a layer index)
     * written as {@code *}. All {@code q_proj} of a LLaMA share {@code
     * model.layers.*.self_attn.q_proj}; BERT's {@code attention.output.dense} and {@code
     * output.dense} stay apart.
     */
    static String groupOf(String path) {
        String[] parts = path.split("\\.");
        for (int i = 0; i < parts.length; i++) {
            if (!parts[i].isEmpty() && parts[i].chars().allMatch(Character::isDigit)) {
                parts[i] = "*";
            }
        }
        return String.join(".", parts);
    }

    private static void checkSupported(ModuleNode node) {
        if (AdapterLayers.wrapperAt(node, MosLayer.class) == null) {
            AdapterLayers.requireLinear(node, "MoS");
        }
    }

    /** (out, in) of a target's weight. */
    private static long[] shape(ModuleNode node) {
        Block b =
                node.block() instanceof MosLayer
                        ? ((MosLayer) node.block()).baseLayer()
                        : node.block();
        Shape s = b.getDirectParameters().get("weight").getArray().getShape();
        return new long[] {s.get(0), s.get(1)};
    }

    /**
     * Checked before anything is allocated: a rank from a file or --rank must not exhaust memory.
     */
    private static long poolElements(
            String group, int layers, long in, long out, MosConfig config) {
        int l = config.shardsPerVector();
        String what =
                "MoS r="
                        + config.rank()
                        + " (equivalent_rank v="
                        + config.equivalentRank()
                        + ", shards_per_vector l="
                        + l
                        + ") on "
                        + group
                        + " ("
                        + layers
                        + " layers, in "
                        + in
                        + ", out "
                        + out
                        + ")";
        if (config.rank() > Math.max(in, out)) {
            throw new IllegalArgumentException(
                    "MoS rank r="
                            + config.rank()
                            + " for '"
                            + group
                            + "' exceeds the module's"
                            + " dimensions ("
                            + out
                            + ", "
                            + in
                            + "); expected r <= "
                            + Math.max(in, out));
        }
        long rows = AdapterBudget.product(what, config.equivalentRank(), layers, l);
        long elements = AdapterBudget.product(what, rows, in / l + out / l);
        if (rows * (in / l) > Integer.MAX_VALUE - 8 || rows * (out / l) > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(
                    what + ": a pool of " + rows + " rows is larger than one array holds");
        }
        return elements;
    }

    private static MosPool createPool(
            NDManager manager,
            String group,
            List<ModuleNode> nodes,
            MosConfig config,
            String name) {
        long[] shape = shape(nodes.get(0));
        long out = shape[0];
        long in = shape[1];
        int l = config.shardsPerVector();
        int layers = nodes.size();
        long rows = (long) config.equivalentRank() * layers * l; // bounded by checkBudget
        NDArray like =
                (nodes.get(0).block() instanceof MosLayer
                                ? ((MosLayer) nodes.get(0).block()).baseWeight()
                                : nodes.get(0).block().getDirectParameters().get("weight"))
                        .getArray();
        Random random =
                new Random(config.seed() * 1_000_003L + group.hashCode() * 31L + name.hashCode());
        // Kaiming-uniform, a = sqrt(5), fan-in = in (not in / l)
        float bound = (float) (1.0 / Math.sqrt((double) in));
        float[] aValues = AdapterParameters.uniform(random, rows * (in / l), bound);
        float[] bValues = new float[Math.toIntExact(rows * (out / l))];
        Parameter a =
                AdapterParameters.trainable(
                        manager, "mos_A_pool." + name, aValues, new Shape(rows, in / l), like);
        Parameter b =
                AdapterParameters.trainable(
                        manager, "mos_B_pool." + name, bValues, new Shape(rows, out / l), like);
        return new MosPool(group, a, b, layers, config);
    }

    /**
     * Layer {@code layer}'s index tables {I_A, I_B}, each {@code r l} rows of the pool: the first
     * {@code (r - p) l} from independent random permutations of the public rows (subset selection
     * without repeats; pair dissociation), then the layer's own {@code p l} private rows. They
     * depend only on the seed, the type and the layer, never on the adapter's name.
     */
    static long[][] indexTables(MosPool pool, int layer, int rank, long seed) {
        int l = pool.shards;
        int publicPicks = (rank - pool.privateRank) * l;
        Random random =
                new Random(seed * 0x9E3779B97F4A7C15L + pool.group.hashCode() * 1_000_003L + layer);
        long[][] tables = new long[2][];
        for (int t = 0; t < 2; t++) {
            long[] index = new long[rank * l];
            long[] perm = partialPermutation(pool.publicRows, publicPicks, random);
            System.arraycopy(perm, 0, index, 0, publicPicks);
            long start = pool.privateStart(layer);
            for (int j = 0; j < pool.privateRank * l; j++) {
                index[publicPicks + j] = start + j;
            }
            tables[t] = index;
        }
        return tables;
    }

    /** The first {@code k} entries of a uniformly random permutation of {@code [0, n)}. */
    private static long[] partialPermutation(long n, int k, Random random) {
        int size = Math.toIntExact(n);
        int[] all = new int[size];
        for (int i = 0; i < size; i++) {
            all[i] = i;
        }
        long[] picks = new long[k];
        for (int i = 0; i < k; i++) {
            int j = i + random.nextInt(size - i);
            int tmp = all[i];
            all[i] = all[j];
            all[j] = tmp;
            picks[i] = all[i];
        }
        return picks;
    }

    private static NDArray index(NDManager manager, long[] values, NDArray like) {
        NDArray array = manager.create(values).toDevice(like.getDevice(), false);
        array.attach(manager);
        return array;
    }
}
