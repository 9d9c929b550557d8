package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every LoRA variant computes what it computed before the variants became strategy classes: the
 * numbers in {@code lora-variants-golden.json} were recorded with the flag-based code (plain LoRA,
 * rsLoRA, the four inits, DoRA, PiSSA, embeddings, a mixed batch of plain and DoRA adapters). For
 * each case: the initial adapter tensors, the base weights after attach (PiSSA's residual), the
 * inference outputs on a short batch and on one long enough for the folded-weight path, a training
 * output and the adapter's gradients, the merged weights and output, the weights after unmerge and
 * after close. The adapter tensors are perturbed after init so that every B is non-zero and DoRA's
 * scale is not 1.
 *
 * <p>Recorded on one machine, compared within a float-rounding tolerance (another CPU's BLAS
 * kernels may round differently); the refactor itself was checked bit-exact where it was made. To
 * record again: {@code -Dpeft4j.lora.recordGolden=/path/lora-variants-golden.json}.
 */
class LoraVariantsGoldenTest {

    private static final String RESOURCE = "lora-variants-golden.json";
    private static final String RECORD = System.getProperty("peft4j.lora.recordGolden");

    /**
     * Relative tolerance: float rounding of a different BLAS kernel, far below any formula change.
     */
    private static final float TOLERANCE = 2e-5f;

    static Stream<Arguments> cases() {
        return variantCases().keySet().stream().map(Arguments::of);
    }

    private static Map<String, LoraConfig> variantCases() {
        Map<String, LoraConfig> m = new LinkedHashMap<>();
        m.put(
                "plain default init, embedding",
                LoraConfig.builder()
                        .rank(4)
                        .alpha(8)
                        .targets("q_proj", "v_proj", "embed_tokens")
                        .build());
        m.put(
                "rslora random init, patterns, all-linear",
                LoraConfig.builder()
                        .rank(2)
                        .alpha(4)
                        .allLinear()
                        .useRslora(true)
                        .init(LoraInit.RANDOM)
                        .rankPattern("down_proj", 3)
                        .alphaPattern("layers\\.1\\..*", 7)
                        .seed(3)
                        .build());
        m.put(
                "gaussian init, embedding",
                LoraConfig.builder()
                        .rank(3)
                        .alpha(6)
                        .targets("k_proj", "up_proj", "embed_tokens")
                        .init(LoraInit.GAUSSIAN)
                        .build());
        m.put(
                "random init, embedding",
                LoraConfig.builder()
                        .rank(2)
                        .targets("o_proj", "embed_tokens")
                        .init(LoraInit.RANDOM)
                        .build());
        m.put(
                "dora default init",
                LoraConfig.builder()
                        .rank(4)
                        .alpha(8)
                        .targets("q_proj", "o_proj", "up_proj", "lm_head")
                        .useDora(true)
                        .build());
        m.put(
                "dora rslora random init",
                LoraConfig.builder()
                        .rank(2)
                        .alpha(5)
                        .targets("v_proj", "down_proj")
                        .useDora(true)
                        .useRslora(true)
                        .init(LoraInit.RANDOM)
                        .build());
        m.put(
                "pissa default iterations",
                LoraConfig.builder()
                        .rank(4)
                        .alpha(8)
                        .targets("up_proj", "q_proj")
                        .init(LoraInit.PISSA)
                        .build());
        m.put(
                "pissa niter 6 with dora",
                LoraConfig.builder()
                        .rank(3)
                        .alpha(3)
                        .targets("gate_proj", "v_proj")
                        .init(LoraInit.PISSA)
                        .pissaIterations(6)
                        .useDora(true)
                        .seed(11)
                        .build());
        return m;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void variantComputesWhatItComputedBefore(String name) throws IOException {
        check(name, values -> run(variantCases().get(name), values));
    }

    @Test
    void mixedBatchOfPlainAndDoraAdaptersComputesWhatItComputedBefore() throws IOException {
        check("mixed batch plain + dora", this::runMixed);
    }

    private void run(LoraConfig config, Map<String, float[]> out) {
        try (NDManager manager = NDManager.newBaseManager()) {
            Block base = TestModels.transformer(manager, 4);
            Map<String, Parameter> weights = weights(base);
            Map<String, float[]> original = snapshot(weights);
            java.util.Set<Parameter> wrapped = new java.util.HashSet<>();
            try (PeftModel peft = PeftModel.wrap(base, config)) {
                wrapped.addAll(wrappedWeights(base));
                Map<String, Parameter> adapter = peft.trainableParameters();
                adapter.forEach((k, p) -> out.put("init/" + k, p.getArray().toFloatArray()));
                perturb(adapter);
                record(wrapped, weights, original, "attached/", out);
                NDList small = TestModels.input(TestModels.Kind.TRANSFORMER, manager, 2);
                NDList large = longInput(manager);
                out.put("infer/small", peft.forward(small).head().toFloatArray());
                out.put("infer/large", peft.forward(large).head().toFloatArray());
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray y = peft.forward(small, true).head();
                    out.put("train/out", y.toFloatArray());
                    gc.backward(y.square().mean());
                }
                adapter.forEach(
                        (k, p) -> out.put("grad/" + k, p.getArray().getGradient().toFloatArray()));
                peft.merge();
                record(wrapped, weights, original, "merged/", out);
                out.put("merged/out", peft.forward(large).head().toFloatArray());
                peft.unmerge();
                record(wrapped, weights, original, "unmerged/", out);
                out.put("unmerged/out", peft.forward(small).head().toFloatArray());
            }
            record(wrapped, weights, original, "closed/", out);
        }
    }

    private void runMixed(Map<String, float[]> out) {
        try (NDManager manager = NDManager.newBaseManager()) {
            Block base = TestModels.transformer(manager, 4);
            try (PeftModel peft =
                    PeftModel.wrap(
                            base,
                            LoraConfig.builder()
                                    .rank(2)
                                    .targets("q_proj", "v_proj", "embed_tokens")
                                    .init(LoraInit.RANDOM)
                                    .build())) {
                peft.addAdapter(
                        "dora",
                        LoraConfig.builder()
                                .rank(3)
                                .alpha(6)
                                .targets("q_proj", "up_proj")
                                .useDora(true)
                                .seed(5)
                                .build());
                perturb(peft.adapter("dora").parameters());
                NDList small = TestModels.input(TestModels.Kind.TRANSFORMER, manager, 2);
                out.put(
                        "mixed",
                        peft.forward(small, List.of("dora", PeftModel.DEFAULT_ADAPTER, "dora"))
                                .head()
                                .toFloatArray());
                try (var scope = peft.useAdapter("dora")) {
                    out.put("dora only", peft.forward(small).head().toFloatArray());
                }
            }
        }
    }

    /** 4 x 9 tokens: more than the 16 x 16 projections' fold threshold of 16 tokens. */
    private static NDList longInput(NDManager manager) {
        int[] ids = new int[4 * 9];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = (i * 7 + 3) % TestModels.VOCAB;
        }
        return new NDList(manager.create(ids, new Shape(4, 9)));
    }

    /** Adds a fixed pattern to every adapter tensor, so no B (or embedding A) stays zero. */
    private static void perturb(Map<String, Parameter> adapter) {
        int k = 0;
        for (Parameter p : adapter.values()) {
            NDArray a = p.getArray();
            float[] v = a.toFloatArray();
            for (int i = 0; i < v.length; i++) {
                v[i] += 0.05f * (float) Math.cos(1.3 * i + 0.7 * k);
            }
            a.set(v);
            k++;
        }
    }

    /** The base model's weights by their key before wrapping; wrapping keeps the objects. */
    private static Map<String, Parameter> weights(Block base) {
        Map<String, Parameter> m = new LinkedHashMap<>();
        for (var p : base.getParameters()) {
            m.put(p.getKey(), p.getValue());
        }
        return m;
    }

    /** The base weights of the modules LoRA wrapped (they are now under a {@code base_layer}). */
    private static java.util.Set<Parameter> wrappedWeights(Block base) {
        java.util.Set<Parameter> wrapped = new java.util.HashSet<>();
        for (var p : base.getParameters()) {
            if (p.getKey().contains("base_layer")) {
                wrapped.add(p.getValue());
            }
        }
        return wrapped;
    }

    /** Copies of every weight's values, to check later that untargeted ones are untouched. */
    private static Map<String, float[]> snapshot(Map<String, Parameter> weights) {
        Map<String, float[]> m = new LinkedHashMap<>();
        weights.forEach((k, p) -> m.put(k, p.getArray().toFloatArray()));
        return m;
    }

    /**
     * Records the weights of the wrapped modules (those now under a {@code base_layer}); every
     * other weight must still hold its original values.
     */
    private static void record(
            java.util.Set<Parameter> wrapped,
            Map<String, Parameter> weights,
            Map<String, float[]> original,
            String prefix,
            Map<String, float[]> out) {
        weights.forEach(
                (k, p) -> {
                    float[] now = p.getArray().toFloatArray();
                    if (wrapped.contains(p)) {
                        out.put(prefix + k, now);
                    } else {
                        org.junit.jupiter.api.Assertions.assertArrayEquals(
                                original.get(k), now, prefix + k + " must be untouched");
                    }
                });
    }

    private static void check(String name, Consumer<Map<String, float[]>> runner)
            throws IOException {
        Map<String, float[]> now = new LinkedHashMap<>();
        runner.accept(now);
        if (RECORD != null) {
            synchronized (LoraVariantsGoldenTest.class) {
                Path file = Path.of(RECORD);
                JsonObject all =
                        Files.exists(file)
                                ? JsonParser.parseString(Files.readString(file)).getAsJsonObject()
                                : new JsonObject();
                JsonObject c = new JsonObject();
                now.forEach((k, v) -> c.addProperty(k, encode(v)));
                all.add(name, c);
                Gson gson = new GsonBuilder().setPrettyPrinting().create();
                Files.writeString(file, gson.toJson(all));
            }
            return;
        }
        JsonObject golden;
        try (InputStream in = LoraVariantsGoldenTest.class.getResourceAsStream(RESOURCE)) {
            assertNotNull(in, RESOURCE + " missing");
            golden =
                    JsonParser.parseReader(new InputStreamReader(in, StandardCharsets.UTF_8))
                            .getAsJsonObject()
                            .getAsJsonObject(name);
        }
        assertNotNull(golden, "no recorded numbers for case '" + name + "'");
        assertEquals(
                new java.util.TreeSet<>(golden.keySet()),
                new TreeMap<>(now).keySet(),
                "the same tensors are produced");
        List<String> failures = new ArrayList<>();
        float worst = 0;
        for (Map.Entry<String, float[]> e : now.entrySet()) {
            float[] want = decode(golden.get(e.getKey()).getAsString());
            float[] got = e.getValue();
            assertEquals(want.length, got.length, e.getKey() + ": size");
            float scale = 1e-3f;
            float diff = 0;
            for (int i = 0; i < want.length; i++) {
                scale = Math.max(scale, Math.abs(want[i]));
                diff = Math.max(diff, Math.abs(want[i] - got[i]));
            }
            if (!(diff <= TOLERANCE * scale)) {
                failures.add(e.getKey() + ": max |diff| " + diff + " (scale " + scale + ")");
            }
            worst = Math.max(worst, diff / scale);
        }
        assertTrue(failures.isEmpty(), name + " changed: " + failures);
        System.err.println("golden '" + name + "': worst relative diff " + worst);
    }

    private static String encode(float[] v) {
        ByteBuffer buf = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(v);
        return Base64.getEncoder().encodeToString(buf.array());
    }

    private static float[] decode(String s) {
        ByteBuffer buf =
                ByteBuffer.wrap(Base64.getDecoder().decode(s)).order(ByteOrder.LITTLE_ENDIAN);
        float[] v = new float[buf.remaining() / 4];
        buf.asFloatBuffer().get(v);
        return v;
    }
}
