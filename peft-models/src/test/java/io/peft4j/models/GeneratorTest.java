package io.peft4j.models;

import static io.peft4j.models.TestSupport.init;
import static io.peft4j.models.TestSupport.tinyLlama;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class GeneratorTest {

    private NDManager manager;
    private LlamaForCausalLM model;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager();
        model = init(new LlamaForCausalLM(tinyLlama("llama", 4, 2, true)), manager);
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    /** Greedy decoding without a cache: the full sequence re-run at every step. */
    private long[] greedyWithoutCache(long[] prompt, int steps) {
        List<Long> seq = new ArrayList<>();
        for (long t : prompt) {
            seq.add(t);
        }
        long[] out = new long[steps];
        for (int s = 0; s < steps; s++) {
            try (NDManager step = manager.newSubManager()) {
                long[] ids = seq.stream().mapToLong(Long::longValue).toArray();
                NDArray logits = TestSupport.forward(model, step, step.create(new long[][] {ids}));
                out[s] = Generator.argmax(logits.get(0, ids.length - 1).toFloatArray());
                seq.add(out[s]);
            }
        }
        return out;
    }

    @Test
    void cachedGreedyEqualsRecomputingEveryStep() {
        long[] a = {1, 5, 9, 2};
        long[] b = {3, 30};
        List<long[]> got =
                Generator.generate(
                        model,
                        List.of(a, b),
                        GenerationConfig.builder().maxNewTokens(12).build(),
                        manager);
        assertArrayEquals(greedyWithoutCache(a, 12), got.get(0));
        assertArrayEquals(greedyWithoutCache(b, 12), got.get(1), "left-padded prompt");
    }

    @Test
    void stopsAtEosAndKeepsIt() {
        long[] prompt = {1, 5, 9, 2};
        long[] free = greedyWithoutCache(prompt, 8);
        int eos = (int) free[3];
        int firstEos = 0;
        while (free[firstEos] != eos) {
            firstEos++;
        }
        long[] got =
                Generator.generate(
                                model,
                                List.of(prompt),
                                GenerationConfig.builder()
                                        .maxNewTokens(8)
                                        .eosTokenIds(List.of(eos))
                                        .build(),
                                manager)
                        .get(0);
        assertArrayEquals(Arrays.copyOf(free, firstEos + 1), got);
    }

    @Test
    void samplingIsReproducibleBySeedAndFiltersDegenerateToGreedy() {
        long[] prompt = {4, 8, 15};
        GenerationConfig.Builder hot =
                GenerationConfig.builder().maxNewTokens(10).sample(true).temperature(5);
        long[] s1 = Generator.generate(model, List.of(prompt), hot.seed(7).build(), manager).get(0);
        long[] s2 = Generator.generate(model, List.of(prompt), hot.seed(7).build(), manager).get(0);
        long[] s3 = Generator.generate(model, List.of(prompt), hot.seed(8).build(), manager).get(0);
        assertArrayEquals(s1, s2);
        assertFalse(Arrays.equals(s1, s3), "different seeds should differ at temperature 5");
        long[] greedy = greedyWithoutCache(prompt, 10);
        assertArrayEquals(
                greedy,
                Generator.generate(model, List.of(prompt), hot.seed(1).topK(1).build(), manager)
                        .get(0),
                "top-k 1");
        assertArrayEquals(
                greedy,
                Generator.generate(
                                model,
                                List.of(prompt),
                                GenerationConfig.builder()
                                        .maxNewTokens(10)
                                        .sample(true)
                                        .topP(1e-6)
                                        .seed(3)
                                        .build(),
                                manager)
                        .get(0),
                "top-p ~0");
    }

    @Test
    void distributionAppliesTemperatureTopKAndTopP() {
        float[] logits = {2f, 1f, 0f, -1f};
        double[] plain =
                Generator.distribution(logits, GenerationConfig.builder().sample(true).build());
        double z = Math.exp(2) + Math.exp(1) + 1 + Math.exp(-1);
        assertEquals(Math.exp(2) / z, plain[0], 1e-12);
        double[] hot =
                Generator.distribution(logits, GenerationConfig.builder().temperature(2).build());
        double z2 = Math.exp(1) + Math.exp(0.5) + 1 + Math.exp(-0.5);
        assertEquals(Math.exp(-0.5) / z2, hot[3], 1e-12);
        double[] k2 = Generator.distribution(logits, GenerationConfig.builder().topK(2).build());
        assertEquals(0.0, k2[2]);
        assertEquals(Math.exp(2) / (Math.exp(2) + Math.exp(1)), k2[0], 1e-12);
        // p(0) = 0.644, p(0)+p(1) = 0.881: top-p 0.7 keeps two tokens, 0.6 keeps one
        double[] p7 = Generator.distribution(logits, GenerationConfig.builder().topP(0.7).build());
        assertTrue(p7[1] > 0 && p7[2] == 0);
        double[] p6 = Generator.distribution(logits, GenerationConfig.builder().topP(0.6).build());
        assertEquals(1.0, p6[0], 1e-12);
        // sampling follows the distribution
        Random r = new Random(0);
        int[] counts = new int[4];
        GenerationConfig c = GenerationConfig.builder().sample(true).build();
        for (int i = 0; i < 20000; i++) {
            counts[Generator.sample(logits, c, r)]++;
        }
        assertEquals(plain[1], counts[1] / 20000.0, 0.015);
    }

    @Test
    void badSettingsAreRejected() {
        assertThrows(
                IllegalArgumentException.class, () -> GenerationConfig.builder().topP(0).build());
        assertThrows(
                IllegalArgumentException.class,
                () -> GenerationConfig.builder().temperature(0).build());
        assertThrows(
                IllegalArgumentException.class,
                () -> GenerationConfig.builder().maxNewTokens(0).build());
    }
}
