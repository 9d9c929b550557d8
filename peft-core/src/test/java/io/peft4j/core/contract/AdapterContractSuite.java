package io.peft4j.core.contract;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.peft4j.core.AdapterScope;
import io.peft4j.core.PeftModel;
import io.peft4j.core.io.SafetensorsFile;
import io.peft4j.core.spi.Adapter;
import io.peft4j.core.spi.AdapterConfig;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The checks every PEFT method passes, over a small MLP and a small transformer (peft's {@code
 * PeftCommonTester}, in Java). A method module extends this class and says which configs to run and
 * how many parameters each should train.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class AdapterContractSuite {

    /** One case: a model kind and a config for it. */
    public record Case(String label, TestModels.Kind kind, AdapterConfig config) {
        @Override
        public String toString() {
            return label + " on " + kind;
        }
    }

    /** The cases this method runs. */
    protected abstract List<Case> cases();

    /**
     * The number of trainable elements the method's formula gives for {@code c} on {@code base}.
     */
    protected abstract long expectedTrainable(Case c, Block base);

    /** Whether the method starts as exactly the base model (every method must, unless stated). */
    protected boolean identityAtInit(Case c) {
        return true;
    }

    protected NDManager manager;

    @TempDir protected Path tmp;

    @BeforeEach
    void openManager() {
        manager = NDManager.newBaseManager(TestDevice.get());
        Engine.getInstance().setRandomSeed(7);
    }

    @AfterEach
    void closeManager() {
        manager.close();
    }

    /** Cases as JUnit arguments; subclasses don't override this. */
    Stream<Arguments> casesArgs() {
        return cases().stream().map(Arguments::of);
    }

    private Block base(Case c) {
        return createBase(c, manager, 42);
    }

    private NDList input(Case c) {
        return createInput(c, manager, 5);
    }

    /**
     * The base model of case {@code c}: its weights must depend only on {@code seed} (the suite
     * builds it more than once per check). Default: {@link TestModels#create}. A method that needs
     * another kind of base (ShadowPEFT needs a {@code LayerStack}) overrides this and {@link
     * #createInput}.
     */
    protected Block createBase(Case c, NDManager m, long seed) {
        return TestModels.create(c.kind(), m, seed);
    }

    /**
     * An input batch of 3 samples for the base of case {@code c}. Default: {@link
     * TestModels#input}.
     */
    protected NDList createInput(Case c, NDManager m, long seed) {
        return TestModels.input(c.kind(), m, seed);
    }

    private static NDArray out(PeftModel peft, NDList x) {
        return peft.forward(x).head();
    }

    /** Sets every adapter tensor to small random non-zero values. */
    protected static void randomize(Adapter adapter, long seed) {
        Random random = new Random(seed);
        for (Parameter p : adapter.parameters().values()) {
            NDArray a = p.getArray();
            float[] v = new float[(int) a.size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (random.nextGaussian() * 0.3);
            }
            a.set(v);
        }
    }

    /**
     * Tolerance scale for float32 comparisons of outputs of magnitude {@code a}: max(1, max|a|).
     */
    protected static float scale(NDArray a) {
        return Math.max(1f, a.abs().max().getFloat());
    }

    private static Map<String, byte[]> baseBytes(Block base, Set<Parameter> adapterParams) {
        Map<String, byte[]> bytes = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : base.getParameters()) {
            if (!adapterParams.contains(p.getValue())) {
                bytes.put(
                        p.getKey() + "#" + p.getValue().getId(),
                        p.getValue().getArray().toByteArray());
            }
        }
        return bytes;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("casesArgs")
    void identityAtInitAndDiffersOnceNonZero(Case c) {
        Block block = base(c);
        NDList x = input(c);
        NDArray before =
                block.forward(new ai.djl.training.ParameterStore(manager, false), x, false)
                        .head()
                        .duplicate();
        try (PeftModel peft = PeftModel.wrap(block, c.config())) {
            if (identityAtInit(c)) {
                if (c.kind() == TestModels.Kind.DJL_ENCODER) {
                    // DJL's block runs 2-D addmm GEMMs whose float rounding was seen to differ by
                    // one ulp (9e-8) between two runs of the same base in a JVM that ran other
                    // cases first; the adapter's zero delta itself adds nothing
                    float d = TestModels.maxAbsDiff(out(peft, x), before);
                    assertTrue(
                            d <= 1e-6f * scale(before),
                            "adapted output at init must equal base; diff " + d);
                } else {
                    assertEquals(
                            0f,
                            TestModels.maxAbsDiff(out(peft, x), before),
                            "adapted output at init must equal base exactly");
                }
            }
            randomize(peft.adapter(PeftModel.DEFAULT_ADAPTER), 11);
            float diff = TestModels.maxAbsDiff(out(peft, x), before);
            assertTrue(
                    diff > 1e-4,
                    "with non-zero adapter weights the output must differ from base; max diff "
                            + diff);
        }
        NDArray after =
                block.forward(new ai.djl.training.ParameterStore(manager, false), x, false).head();
        assertTrue(
                TestModels.maxAbsDiff(after, before) < 1e-6,
                "closing the PeftModel must restore the base model");
    }

    /**
     * Adapters, outputs and gradients stay on the device the base lives on ({@link TestDevice}: the
     * CPU by default, a GPU with {@code -Dpeft4j.test.device=gpu}), so a method that builds a
     * tensor on the default device or on the CPU fails here on a GPU run instead of in a user's.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("casesArgs")
    void adapterOutputAndGradientsLiveOnTheChosenDevice(Case c) {
        ai.djl.Device device = TestDevice.get();
        assertEquals(
                device, manager.getDevice(), "the suite's manager must be on the chosen device");
        Block block = base(c);
        NDList x = input(c);
        try (PeftModel peft = PeftModel.wrap(block, c.config())) {
            randomize(peft.adapter(PeftModel.DEFAULT_ADAPTER), 5);
            for (Map.Entry<String, Parameter> e : peft.trainableParameters().entrySet()) {
                assertEquals(
                        device,
                        e.getValue().getArray().getDevice(),
                        "adapter tensor " + e.getKey());
            }
            try (NDManager stepManager = manager.newSubManager()) {
                NDList xs = new NDList(x.head().duplicate());
                xs.attach(stepManager);
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray y = peft.forward(xs, true).head();
                    assertEquals(device, y.getDevice(), "training forward output");
                    gc.backward(y.square().mean());
                }
                for (Map.Entry<String, Parameter> e : peft.trainableParameters().entrySet()) {
                    try (NDArray g = e.getValue().getArray().getGradient()) {
                        assertEquals(device, g.getDevice(), "gradient of " + e.getKey());
                    }
                }
            }
            assertEquals(device, out(peft, x).getDevice(), "inference output");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("casesArgs")
    void onlyAdapterTensorsGetGradientsAndChange(Case c) {
        Block block = base(c);
        NDList x = input(c);
        try (PeftModel peft = PeftModel.wrap(block, c.config())) {
            randomize(peft.adapter(PeftModel.DEFAULT_ADAPTER), 3);
            Map<String, Parameter> trainable = peft.trainableParameters();
            assertFalse(trainable.isEmpty());
            Set<Parameter> adapterParams = new HashSet<>(trainable.values());
            Map<String, byte[]> baseBefore = baseBytes(block, adapterParams);
            Map<String, byte[]> adapterBefore = new LinkedHashMap<>();
            trainable.forEach((k, p) -> adapterBefore.put(k, p.getArray().toByteArray()));
            for (int step = 0; step < 3; step++) {
                try (NDManager stepManager = manager.newSubManager()) {
                    NDList xs = new NDList(x.head().duplicate());
                    xs.attach(stepManager);
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray loss = peft.forward(xs, true).head().square().mean();
                        gc.backward(loss);
                    }
                    for (Pair<String, Parameter> p : block.getParameters()) {
                        if (!adapterParams.contains(p.getValue())) {
                            assertFalse(
                                    p.getValue().requiresGradient(),
                                    "base parameter " + p.getKey() + " must be frozen");
                        }
                    }
                    for (Map.Entry<String, Parameter> e : trainable.entrySet()) {
                        NDArray w = e.getValue().getArray();
                        try (NDArray g = w.getGradient()) {
                            assertNotNull(g, "no gradient for " + e.getKey());
                            w.subi(g.mul(0.05));
                            g.subi(g);
                        }
                    }
                }
            }
            assertEquals(baseBefore.keySet(), baseBytes(block, adapterParams).keySet());
            baseBytes(block, adapterParams)
                    .forEach(
                            (k, v) ->
                                    assertArrayEquals(
                                            baseBefore.get(k), v, "base tensor changed: " + k));
            int changed = 0;
            for (Map.Entry<String, Parameter> e : trainable.entrySet()) {
                if (!java.util.Arrays.equals(
                        adapterBefore.get(e.getKey()), e.getValue().getArray().toByteArray())) {
                    changed++;
                }
            }
            assertTrue(changed > 0, "training steps changed no adapter tensor");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("casesArgs")
    void mergeEqualsUnmergedAndUnmergeRestores(Case c) {
        Block block = base(c);
        NDList x = input(c);
        NDArray baseOut =
                block.forward(new ai.djl.training.ParameterStore(manager, false), x, false)
                        .head()
                        .duplicate();
        try (PeftModel peft = PeftModel.wrap(block, c.config())) {
            Adapter adapter = peft.adapter(PeftModel.DEFAULT_ADAPTER);
            if (adapter.mergeUnsupportedReason() != null) {
                assertThrows(UnsupportedOperationException.class, peft::merge);
                return;
            }
            randomize(adapter, 5);
            NDArray unmerged = out(peft, x).duplicate();
            peft.merge();
            assertTrue(adapter.isMerged());
            float mergedDiff = TestModels.maxAbsDiff(out(peft, x), unmerged);
            assertTrue(
                    mergedDiff < 1e-5 * scale(unmerged),
                    "merged output must equal unmerged; diff " + mergedDiff);
            try (AdapterScope off = peft.disableAdapters()) {
                assertTrue(
                        TestModels.maxAbsDiff(out(peft, x), baseOut) < 1e-5 * scale(baseOut),
                        "disable with a merged adapter must give base");
            }
            float tol = 1e-5f * scale(unmerged);
            assertTrue(
                    TestModels.maxAbsDiff(out(peft, x), unmerged) < tol,
                    "leaving disable must re-merge");
            peft.unmerge();
            assertFalse(adapter.isMerged());
            assertTrue(
                    TestModels.maxAbsDiff(out(peft, x), unmerged) < tol,
                    "unmerged output must equal the adapted one");
            try (AdapterScope off = peft.disableAdapters()) {
                assertTrue(
                        TestModels.maxAbsDiff(out(peft, x), baseOut) < 1e-5 * scale(baseOut),
                        "unmerge must restore the base weights");
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("casesArgs")
    void mergeAndUnloadGivesPlainModelWithAdaptedOutputs(Case c) {
        Block block = base(c);
        NDList x = input(c);
        PeftModel peft = PeftModel.wrap(block, c.config());
        Adapter adapter = peft.adapter(PeftModel.DEFAULT_ADAPTER);
        if (adapter.mergeUnsupportedReason() != null) {
            peft.close();
            return;
        }
        randomize(adapter, 6);
        NDArray adapted = out(peft, x).duplicate();
        Block merged = peft.mergeAndUnload();
        assertTrue(
                io.peft4j.core.tree.ModuleTree.of(merged).nodes().stream()
                        .noneMatch(n -> n.block() instanceof io.peft4j.core.tree.AdapterWrapper),
                "no wrapper may remain");
        NDArray plain =
                merged.forward(new ai.djl.training.ParameterStore(manager, false), x, false).head();
        float diff = TestModels.maxAbsDiff(plain, adapted);
        assertTrue(
                diff < 1e-5 * scale(adapted),
                "merged plain model must give the adapted outputs; diff " + diff);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("casesArgs")
    void disableScopeGivesBaseAndLeavingRestores(Case c) {
        Block block = base(c);
        NDList x = input(c);
        NDArray baseOut =
                block.forward(new ai.djl.training.ParameterStore(manager, false), x, false)
                        .head()
                        .duplicate();
        try (PeftModel peft = PeftModel.wrap(block, c.config())) {
            randomize(peft.adapter(PeftModel.DEFAULT_ADAPTER), 9);
            NDArray adapted = out(peft, x).duplicate();
            try (AdapterScope off = peft.disableAdapters()) {
                assertTrue(TestModels.maxAbsDiff(out(peft, x), baseOut) <= 1e-6);
            }
            assertTrue(TestModels.maxAbsDiff(out(peft, x), adapted) <= 1e-6);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("casesArgs")
    void saveLoadRoundTripHoldsOnlyAdapterTensors(Case c) throws Exception {
        Path dir = tmp.resolve("adapter");
        NDList x = input(c);
        NDArray adapted;
        Set<String> keys;
        try (PeftModel peft = PeftModel.wrap(base(c), c.config())) {
            Adapter adapter = peft.adapter(PeftModel.DEFAULT_ADAPTER);
            randomize(adapter, 13);
            adapted = out(peft, x).duplicate();
            peft.save(dir);
            keys = new HashSet<>(adapter.parameters().keySet());
            keys.addAll(adapter.frozenState().keySet());
        }
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
            assertEquals(
                    keys,
                    new HashSet<>(f.names()),
                    "the file must hold exactly the adapter's tensors");
            assertEquals("pt", f.metadata().get("format"));
        }
        try (PeftModel loaded = PeftModel.load(base(c), dir)) {
            assertTrue(
                    TestModels.maxAbsDiff(out(loaded, x), adapted) <= 1e-6,
                    "loaded adapter must reproduce outputs");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("casesArgs")
    void adaptersWhoseNamesArePrefixesDoNotLeak(Case c) throws Exception {
        Path dir = tmp.resolve("two");
        NDList x = input(c);
        NDArray outA;
        NDArray outAb;
        try (PeftModel peft = PeftModel.wrap(base(c), c.config(), "a")) {
            peft.addAdapter("ab", c.config());
            randomize(peft.adapter("a"), 21);
            randomize(peft.adapter("ab"), 22);
            outA = out(peft, x).duplicate();
            peft.setActiveAdapter("ab");
            outAb = out(peft, x).duplicate();
            assertTrue(TestModels.maxAbsDiff(outA, outAb) > 1e-4, "the two adapters must differ");
            peft.saveAdapter("a", dir.resolve("a"));
            peft.saveAdapter("ab", dir.resolve("ab"));
            for (String name : List.of("a", "ab")) {
                try (SafetensorsFile f =
                        SafetensorsFile.open(
                                dir.resolve(name).resolve("adapter_model.safetensors"))) {
                    Map<String, Parameter> params = peft.adapter(name).parameters();
                    // The file holds the trained tensors plus the frozen state saved with them.
                    Map<String, NDArray> frozen = peft.adapter(name).frozenState();
                    Set<String> expectedKeys = new HashSet<>(params.keySet());
                    expectedKeys.addAll(frozen.keySet());
                    assertEquals(expectedKeys, new HashSet<>(f.names()));
                    for (Map.Entry<String, NDArray> e : frozen.entrySet()) {
                        try (NDManager m = manager.newSubManager()) {
                            NDArray stored = f.load(e.getKey(), m);
                            assertEquals(
                                    e.getValue().getDataType(),
                                    stored.getDataType(),
                                    "frozen tensor " + e.getKey());
                            assertArrayEquals(
                                    e.getValue().toByteArray(),
                                    stored.toByteArray(),
                                    "adapter "
                                            + name
                                            + " file holds another adapter's frozen state for "
                                            + e.getKey());
                        }
                    }
                    for (Map.Entry<String, Parameter> e : params.entrySet()) {
                        try (NDManager m = manager.newSubManager()) {
                            assertArrayEquals(
                                    e.getValue().getArray().toFloatArray(),
                                    f.load(e.getKey(), m).toFloatArray(),
                                    "adapter "
                                            + name
                                            + " file holds another adapter's values for "
                                            + e.getKey());
                        }
                    }
                }
            }
            peft.deleteAdapter("a");
            assertEquals(Set.of("ab"), peft.adapterNames());
            assertTrue(
                    TestModels.maxAbsDiff(out(peft, x), outAb) <= 1e-6,
                    "deleting 'a' must not touch 'ab'");
        }
        try (PeftModel loaded = PeftModel.load(base(c), dir.resolve("a"))) {
            assertTrue(TestModels.maxAbsDiff(out(loaded, x), outA) <= 1e-6);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("casesArgs")
    void trainableCountEqualsFormula(Case c) {
        Block block = base(c);
        long expected = expectedTrainable(c, block);
        try (PeftModel peft = PeftModel.wrap(block, c.config())) {
            assertEquals(
                    expected,
                    peft.trainableSummary().trainable(),
                    peft.trainableSummary().toString());
            long adapterTotal = 0;
            for (Parameter p : peft.adapter(PeftModel.DEFAULT_ADAPTER).parameters().values()) {
                adapterTotal += p.getArray().size();
            }
            assertEquals(expected, adapterTotal);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("casesArgs")
    void inferenceCallsLeaveNothingOutsideTheirScope(Case c) {
        Block block = base(c);
        NDList x = input(c);
        try (PeftModel peft = PeftModel.wrap(block, c.config())) {
            randomize(peft.adapter(PeftModel.DEFAULT_ADAPTER), 7);
            for (int warm = 0; warm < 2; warm++) { // first calls may build caches that live on
                scopedCall(block, x);
            }
            int before = liveArrays(block);
            for (int i = 0; i < 10; i++) {
                scopedCall(block, x);
            }
            // a result made from a parameter first lands in the parameters' long-lived manager
            assertEquals(
                    before,
                    liveArrays(block),
                    "arrays left behind by 10 inference calls, each in a closed scope");
        }
    }

    /**
     * Arrays held by the managers of the test and of every parameter of {@code block} (base and
     * adapter).
     */
    private int liveArrays(Block block) {
        Set<NDManager> managers =
                java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        managers.add(manager);
        for (Pair<String, Parameter> p : block.getParameters()) {
            if (p.getValue().isInitialized()) {
                managers.add(p.getValue().getArray().getManager());
            }
        }
        Set<NDArray> arrays =
                java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (NDManager m : managers) {
            arrays.addAll(((ai.djl.ndarray.BaseNDManager) m).getManagedArrays());
        }
        return arrays.size();
    }

    /** One inference call as a server makes it: the input borrowed into a scope that is closed. */
    private static void scopedCall(Block block, NDList x) {
        NDManager root = x.head().getManager();
        try (NDManager scope = root.newSubManager()) {
            x.forEach(a -> a.tempAttach(scope));
            block.forward(new ParameterStore(scope, false), x, false).head().toFloatArray();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("casesArgs")
    void theWrappedModelDescribesItself(Case c) {
        Block block = base(c);
        String plain = block.toString();
        try (PeftModel peft = PeftModel.wrap(block, c.config())) {
            // DJL's Block.toString walks every module and asks it for its shapes
            String wrapped = block.toString();
            assertTrue(
                    wrapped.length() > plain.length(),
                    "the description must show the adapter wrappers:\n" + wrapped);
            assertTrue(
                    wrapped.contains("base_layer") || wrapped.contains("original_module"),
                    "the description must name the wrapped modules:\n" + wrapped);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("casesArgs")
    void mixedBatchEqualsPerSampleRuns(Case c) {
        Block block = base(c);
        NDList x = input(c);
        try (PeftModel peft = PeftModel.wrap(block, c.config(), "a")) {
            peft.addAdapter("b", c.config());
            randomize(peft.adapter("a"), 31);
            randomize(peft.adapter("b"), 32);
            List<String> names = List.of("a", io.peft4j.core.spi.Selection.BASE, "b");
            NDArray mixed = peft.forward(x, names).head();
            for (int i = 0; i < names.size(); i++) {
                NDList one = new NDList(x.head().get(i).expandDims(0));
                String name = names.get(i);
                NDArray o;
                if (name.equals(io.peft4j.core.spi.Selection.BASE)) {
                    try (AdapterScope off = peft.disableAdapters()) {
                        o = out(peft, one);
                    }
                } else {
                    try (AdapterScope use = peft.useAdapter(name)) {
                        o = out(peft, one);
                    }
                }
                // relative to the output's size: a batch of 3 and a batch of 1 run different GEMM
                // kernels, whose float rounding differs by a few ulps (1.2e-5 on outputs of 36
                // seen)
                double diff = TestModels.maxAbsDiff(mixed.get(i).expandDims(0), o);
                double scale = Math.max(1, o.abs().max().getFloat());
                assertTrue(
                        diff < 1e-5 * scale,
                        "sample "
                                + i
                                + " ("
                                + name
                                + "): max diff "
                                + diff
                                + " at max |out| "
                                + scale);
            }
            assertThrows(
                    IllegalArgumentException.class,
                    () -> peft.forward(x, List.of("a", "b")),
                    "wrong list length");
            assertThrows(
                    IllegalArgumentException.class,
                    () -> peft.forward(x, List.of("a", "nope", "b")),
                    "unknown adapter");
            if (peft.adapter("a").mergeUnsupportedReason() == null) {
                peft.merge("a");
                assertThrows(
                        IllegalStateException.class,
                        () -> peft.forward(x, names),
                        "merged adapter");
                peft.unmerge();
            }
        }
    }
}
