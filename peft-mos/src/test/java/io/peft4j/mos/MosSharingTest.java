package io.peft4j.mos;

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
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.io.SafetensorsFile;
import io.peft4j.core.io.SafetensorsWriter;
import io.peft4j.core.spi.Adapter;
import io.peft4j.core.testing.ManagedTest;
import io.peft4j.lora.LoraConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What makes MoS MoS: index tables, sharing, gradients through shared rows, LoRA equivalence and
 * export.
 */
class MosSharingTest extends ManagedTest {

    @TempDir Path tmp;

    private static MosConfig.Builder qv() {
        return MosConfig.builder()
                .equivalentRank(4)
                .rank(6)
                .shardsPerVector(4)
                .privateRank(1)
                .dropout(0)
                .seed(5)
                .targets("q_proj", "v_proj", "up_proj");
    }

    private static void randomize(Adapter adapter, long seed) {
        Random random = new Random(seed);
        for (Parameter p : adapter.parameters().values()) {
            float[] v = new float[(int) p.getArray().size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (random.nextGaussian() * 0.3);
            }
            p.getArray().set(v);
        }
    }

    private static MosAdapter mos(PeftModel peft) {
        return (MosAdapter) peft.adapter(PeftModel.DEFAULT_ADAPTER);
    }

    @Test
    void indexTablesDrawPublicRowsWithoutRepeatsAndGiveEachPrivateRowToOneLayer() {
        MosConfig config = qv().build();
        try (PeftModel peft = PeftModel.wrap(TestModels.transformer(manager, 1), config)) {
            MosAdapter adapter = mos(peft);
            assertEquals(
                    List.of(
                            "layers.*.self_attn.q_proj",
                            "layers.*.self_attn.v_proj",
                            "layers.*.mlp.up_proj"),
                    adapter.projectionTypes());
            int l = 4;
            int publicPicks = (6 - 1) * l;
            boolean dissociated = false;
            for (MosPool pool : adapter.pools().values()) {
                assertEquals(4L * 2 * l, pool.rows, "N = v L l");
                assertEquals(new Shape(pool.rows, pool.in / l), pool.a.getArray().getShape());
                assertEquals(new Shape(pool.rows, pool.out / l), pool.b.getArray().getShape());
                for (boolean isA : new boolean[] {true, false}) {
                    Map<Long, Integer> privateOwner = new HashMap<>();
                    for (String path : adapter.paths()) {
                        MosLayer.Slot s = adapter.slot(path);
                        if (s.pool != pool) {
                            continue;
                        }
                        long[] t = (isA ? s.indexA : s.indexB).toLongArray();
                        assertEquals(6 * l, t.length);
                        Set<Long> seen = new HashSet<>();
                        for (int j = 0; j < publicPicks; j++) {
                            assertTrue(
                                    t[j] >= 0 && t[j] < pool.publicRows,
                                    path + " entry " + j + " = " + t[j] + " is not public");
                            assertTrue(seen.add(t[j]), path + " repeats public row " + t[j]);
                        }
                        for (int j = publicPicks; j < t.length; j++) {
                            assertTrue(
                                    t[j] >= pool.publicRows && t[j] < pool.rows,
                                    "private entry out of range");
                            Integer before = privateOwner.put(t[j], s.layerIndex);
                            assertTrue(
                                    before == null,
                                    "private row "
                                            + t[j]
                                            + " used by layers "
                                            + before
                                            + " and "
                                            + s.layerIndex);
                        }
                        if (isA && !java.util.Arrays.equals(t, s.indexB.toLongArray())) {
                            dissociated = true;
                        }
                    }
                    assertEquals(
                            pool.rows - pool.publicRows,
                            privateOwner.size(),
                            "every private row belongs to exactly one layer");
                }
            }
            assertTrue(
                    dissociated, "pair dissociation: A and B tables must be drawn independently");
        }
        // Tables depend on the seed and the type only: the same config gives the same tables,
        // another seed others.
        try (PeftModel p1 = PeftModel.wrap(TestModels.transformer(manager, 1), config, "x");
                PeftModel p2 = PeftModel.wrap(TestModels.transformer(manager, 1), config, "y");
                PeftModel p3 =
                        PeftModel.wrap(TestModels.transformer(manager, 1), qv().seed(6).build())) {
            String key = "base_model.model.layers.1.self_attn.q_proj.mos_A_index";
            assertArrayEquals(
                    p1.adapter("x").frozenState().get(key).toLongArray(),
                    p2.adapter("y").frozenState().get(key).toLongArray());
            assertFalse(
                    java.util.Arrays.equals(
                            p1.adapter("x").frozenState().get(key).toLongArray(),
                            p3.adapter("default").frozenState().get(key).toLongArray()));
        }
    }

    @Test
    void withPrivateRankEqualToBudgetAndRankItIsExactlyLora() {
        int r = 3;
        MosConfig config =
                MosConfig.builder()
                        .equivalentRank(r)
                        .rank(r)
                        .privateRank(r)
                        .shardsPerVector(2)
                        .alpha(12)
                        .dropout(0)
                        .targets("q_proj", "v_proj", "down_proj")
                        .build();
        LoraConfig lora =
                LoraConfig.builder()
                        .rank(r)
                        .alpha(12)
                        .targets("q_proj", "v_proj", "down_proj")
                        .build();
        NDList x = TestModels.input(TestModels.Kind.TRANSFORMER, manager, 5);
        try (PeftModel m = PeftModel.wrap(TestModels.transformer(manager, 2), config);
                PeftModel l = PeftModel.wrap(TestModels.transformer(manager, 2), lora)) {
            randomize(m.adapter("default"), 3);
            MosAdapter adapter = mos(m);
            for (String path :
                    adapter.paths()) { // p = v = r: each layer simply owns r l consecutive rows
                MosLayer.Slot s = adapter.slot(path);
                long[] t = s.indexA.toLongArray();
                for (int j = 0; j < t.length; j++) {
                    assertEquals((long) s.layerIndex * r * 2 + j, t[j]);
                }
            }
            try (NDManager scratch = manager.newSubManager()) {
                l.adapter("default").load(adapter.denseLoraFactors(scratch)); // same A, B values
            }
            NDArray mosOut = m.forward(x).head();
            NDArray loraOut = l.forward(x).head();
            NDArray baseOut;
            try (var off = m.disableAdapters()) {
                baseOut = m.forward(x).head();
            }
            assertTrue(
                    TestModels.maxAbsDiff(mosOut, baseOut) > 1e-3,
                    "the adapters must do something");
            assertEquals(
                    0f,
                    TestModels.maxAbsDiff(mosOut, loraOut),
                    "MoS with p = v = r must equal LoRA of rank r");
        }
    }

    @Test
    void sharedRowGradientIsTheSumOfPerLayerGradients() {
        MosConfig config = qv().build();
        NDList x = TestModels.input(TestModels.Kind.TRANSFORMER, manager, 9);
        try (PeftModel m = PeftModel.wrap(TestModels.transformer(manager, 3), config);
                PeftModel dense =
                        PeftModel.wrap(
                                TestModels.transformer(manager, 3),
                                LoraConfig.builder()
                                        .rank(6)
                                        .alpha(16)
                                        .targets("q_proj", "v_proj", "up_proj")
                                        .build())) {
            MosAdapter adapter = mos(m);
            randomize(adapter, 4);
            try (NDManager scratch = manager.newSubManager()) {
                dense.adapter("default").load(adapter.denseLoraFactors(scratch));
            }
            // MoS gradient of every pool
            Map<String, float[]> mosGrad = new LinkedHashMap<>();
            try (NDManager step = manager.newSubManager()) {
                NDList xs = new NDList(x.head().duplicate());
                xs.attach(step);
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    gc.backward(m.forward(xs, true).head().square().mean());
                }
                adapter.parameters()
                        .forEach(
                                (k, p) -> {
                                    try (NDArray g = p.getArray().getGradient()) {
                                        mosGrad.put(k, g.toFloatArray());
                                    }
                                });
            }
            // Dense reference: an ordinary LoRA with each layer's own A_i, B_i; its gradients
            // scattered into the pools by hand.
            Map<String, float[]> expected = new LinkedHashMap<>();
            adapter.parameters()
                    .forEach((k, p) -> expected.put(k, new float[(int) p.getArray().size()]));
            try (NDManager step = manager.newSubManager()) {
                NDList xs = new NDList(x.head().duplicate());
                xs.attach(step);
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    gc.backward(dense.forward(xs, true).head().square().mean());
                }
                Map<String, Parameter> loraParams = dense.adapter("default").parameters();
                int sharedRowsSeen = 0;
                for (String path : adapter.paths()) {
                    MosLayer.Slot s = adapter.slot(path);
                    String type = s.pool.group;
                    int l = s.pool.shards;
                    float[] ga;
                    float[] gb;
                    try (NDArray g =
                            loraParams
                                    .get("base_model.model." + path + ".lora_A.weight")
                                    .getArray()
                                    .getGradient()) {
                        ga = g.toFloatArray(); // (r, in) row-major = (r l, in / l)
                    }
                    try (NDArray g =
                            loraParams
                                    .get("base_model.model." + path + ".lora_B.weight")
                                    .getArray()
                                    .getGradient()) {
                        gb = g.transpose().duplicate().toFloatArray(); // (r, out) = (r l, out / l)
                    }
                    scatterAdd(
                            expected.get("base_model.model." + type + ".mos_A_pool"),
                            s.indexA.toLongArray(),
                            ga,
                            (int) (s.pool.in / l));
                    scatterAdd(
                            expected.get("base_model.model." + type + ".mos_B_pool"),
                            s.indexB.toLongArray(),
                            gb,
                            (int) (s.pool.out / l));
                    if (s.layerIndex == 1) {
                        Set<Long> first = new HashSet<>();
                        for (long v :
                                adapter.slot(path.replace("layers.1.", "layers.0."))
                                        .indexA
                                        .toLongArray()) {
                            first.add(v);
                        }
                        for (long v : s.indexA.toLongArray()) {
                            sharedRowsSeen += first.contains(v) ? 1 : 0;
                        }
                    }
                }
                assertTrue(sharedRowsSeen > 0, "the test needs rows that both layers use");
            }
            for (String key : expected.keySet()) {
                float[] want = expected.get(key);
                float[] got = mosGrad.get(key);
                float maxAbs = 0;
                float maxDiff = 0;
                for (int i = 0; i < want.length; i++) {
                    maxAbs = Math.max(maxAbs, Math.abs(want[i]));
                    maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
                }
                assertTrue(maxAbs > 0, "reference gradient of " + key + " is zero");
                assertTrue(
                        maxDiff <= 1e-5f * Math.max(1f, maxAbs),
                        key + ": max diff " + maxDiff + " (max |grad| " + maxAbs + ")");
            }
        }
    }

    private static void scatterAdd(float[] pool, long[] index, float[] rows, int width) {
        for (int j = 0; j < index.length; j++) {
            for (int c = 0; c < width; c++) {
                pool[(int) index[j] * width + c] += rows[j * width + c];
            }
        }
    }

    @Test
    void exportedDenseFactorsLoadAsPlainLoraAndReproduceOutputs() throws Exception {
        MosConfig config = qv().alpha(24).build();
        NDList x = TestModels.input(TestModels.Kind.TRANSFORMER, manager, 2);
        Path dir = tmp.resolve("as-lora");
        NDArray adapted;
        try (PeftModel m = PeftModel.wrap(TestModels.transformer(manager, 4), config)) {
            randomize(m.adapter("default"), 8);
            adapted = m.forward(x).head().duplicate();
            mos(m).exportAsLora(dir);
        }
        JsonObject json =
                JsonParser.parseString(Files.readString(dir.resolve("adapter_config.json")))
                        .getAsJsonObject();
        assertEquals("LORA", json.get("peft_type").getAsString());
        assertEquals(6, json.get("r").getAsInt());
        assertEquals(24, json.get("lora_alpha").getAsInt());
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
            assertEquals(12, f.names().size()); // 3 types x 2 layers x (A, B)
            assertArrayEquals(
                    new long[] {6, 16},
                    f.info("base_model.model.layers.0.self_attn.q_proj.lora_A.weight").shape());
            assertArrayEquals(
                    new long[] {32, 6},
                    f.info("base_model.model.layers.1.mlp.up_proj.lora_B.weight").shape());
        }
        Block fresh = TestModels.transformer(manager, 4);
        NDArray baseOut =
                fresh.forward(new ai.djl.training.ParameterStore(manager, false), x, false)
                        .head()
                        .duplicate();
        try (PeftModel loaded = PeftModel.load(fresh, dir)) {
            assertEquals("LORA", loaded.config("default").peftType());
            NDArray out = loaded.forward(x).head();
            assertTrue(TestModels.maxAbsDiff(out, baseOut) > 1e-3);
            assertTrue(
                    TestModels.maxAbsDiff(out, adapted) <= 1e-5,
                    "plain LoRA must reproduce MoS; diff " + TestModels.maxAbsDiff(out, adapted));
        }
    }

    @Test
    void loadRefusesTamperedIndexTablesNamingTheTensor() throws Exception {
        MosConfig config = qv().build();
        Path dir = tmp.resolve("mos");
        try (PeftModel m = PeftModel.wrap(TestModels.transformer(manager, 4), config)) {
            m.save(dir);
        }
        Path file = dir.resolve("adapter_model.safetensors");
        String key = "base_model.model.layers.0.self_attn.v_proj.mos_B_index";
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String name : f.names()) {
                tensors.put(name, f.load(name, manager));
            }
        }
        long[] t = tensors.get(key).toLongArray();
        t[1] = t[0]; // a repeated public row
        tensors.put(key, manager.create(t));
        SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> PeftModel.load(TestModels.transformer(manager, 4), dir));
        assertTrue(
                e.getMessage().contains(key) && e.getMessage().contains("repeats"), e.getMessage());
        t[1] = 10_000; // outside the pool
        tensors.put(key, manager.create(t));
        SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> PeftModel.load(TestModels.transformer(manager, 4), dir));
        assertTrue(
                e.getMessage().contains(key) && e.getMessage().contains("10000"), e.getMessage());
    }

    @Test
    void loadedIndexTablesWinOverTheOnesTheSeedWouldDraw() throws Exception {
        // A file written with seed 5 but a config that says seed 6: the saved tables are the truth.
        Path dir = tmp.resolve("mos");
        NDList x = TestModels.input(TestModels.Kind.TRANSFORMER, manager, 3);
        NDArray adapted;
        try (PeftModel m = PeftModel.wrap(TestModels.transformer(manager, 4), qv().build())) {
            randomize(m.adapter("default"), 2);
            adapted = m.forward(x).head().duplicate();
            m.save(dir);
        }
        String json =
                Files.readString(dir.resolve("adapter_config.json"))
                        .replace("\"seed\": 5", "\"seed\": 6");
        assertTrue(json.contains("\"seed\": 6"));
        Files.writeString(dir.resolve("adapter_config.json"), json);
        try (PeftModel loaded = PeftModel.load(TestModels.transformer(manager, 4), dir)) {
            assertTrue(TestModels.maxAbsDiff(loaded.forward(x).head(), adapted) <= 1e-6);
        }
    }

    @Test
    void gradientsReachEveryPoolAndTheBaseStaysFrozen() {
        try (PeftModel m = PeftModel.wrap(TestModels.transformer(manager, 4), qv().build())) {
            randomize(m.adapter("default"), 1);
            NDList x = TestModels.input(TestModels.Kind.TRANSFORMER, manager, 3);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(m.forward(x, true).head().square().mean());
            }
            for (Map.Entry<String, Parameter> e : m.trainableParameters().entrySet()) {
                try (NDArray g = e.getValue().getArray().getGradient()) {
                    assertNotNull(g);
                    assertTrue(g.abs().sum().getFloat() > 0, "no gradient reached " + e.getKey());
                }
            }
            assertEquals(6, m.trainableParameters().size()); // 3 types x (A_pool, B_pool)
        }
    }
}
