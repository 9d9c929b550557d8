package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import io.peft4j.core.AdapterScope;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.spi.Selection;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Several threads serve one PeftModel with different adapters per request (per-call selection and
 * mixed batches) and get exactly what sequential calls give.
 */
class ConcurrentInferenceTest {

    @Test
    void threadsWithDifferentAdaptersGetSequentialResults() throws Exception {
        try (NDManager manager = NDManager.newBaseManager();
                PeftModel peft =
                        PeftModel.wrap(
                                TestModels.transformer(manager, 2),
                                LoraConfig.builder()
                                        .rank(4)
                                        .targets("q_proj", "v_proj", "down_proj")
                                        .build(),
                                "a")) {
            peft.addAdapter("b", LoraConfig.builder().rank(2).targets("k_proj", "up_proj").build());
            Random random = new Random(5);
            for (String name : List.of("a", "b")) {
                for (Parameter p : peft.adapter(name).parameters().values()) {
                    float[] v = new float[(int) p.getArray().size()];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) random.nextGaussian() * 0.3f;
                    }
                    p.getArray().set(v);
                }
            }
            NDList x = TestModels.input(TestModels.Kind.TRANSFORMER, manager, 3);
            List<String> mixed = List.of("b", Selection.BASE, "a");
            float[] expectA = run(peft, x, "a");
            float[] expectB = run(peft, x, "b");
            float[] expectMixed = peft.forward(x, mixed).head().toFloatArray();
            float[] expectBase;
            try (AdapterScope off = peft.disableAdapters()) {
                expectBase = peft.forward(x).head().toFloatArray();
            }
            assertTrue(maxDiff(expectA, expectB) > 1e-3, "the adapters must differ");

            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<Integer>> results = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    int thread = t;
                    results.add(
                            pool.submit(
                                    () -> {
                                        int checked = 0;
                                        for (int i = 0; i < 30; i++) {
                                            try (NDManager scope = manager.newSubManager()) {
                                                NDList xs = new NDList(x.head().duplicate());
                                                xs.attach(scope);
                                                switch ((thread + i) % 3) {
                                                    case 0:
                                                        assertEquals(
                                                                0f,
                                                                maxDiff(
                                                                        run(peft, xs, "a"),
                                                                        expectA));
                                                        break;
                                                    case 1:
                                                        assertEquals(
                                                                0f,
                                                                maxDiff(
                                                                        run(peft, xs, "b"),
                                                                        expectB));
                                                        break;
                                                    default:
                                                        assertEquals(
                                                                0f,
                                                                maxDiff(
                                                                        peft.forward(xs, mixed)
                                                                                .head()
                                                                                .toFloatArray(),
                                                                        expectMixed));
                                                }
                                                checked++;
                                            }
                                        }
                                        return checked;
                                    }));
                }
                for (Future<Integer> f : results) {
                    assertEquals(30, f.get());
                }
            } finally {
                pool.shutdown();
            }
            // the main thread's own selection is untouched by the others
            assertEquals("a", peft.activeAdapter());
            try (AdapterScope off = peft.disableAdapters()) {
                assertEquals(0f, maxDiff(peft.forward(x).head().toFloatArray(), expectBase));
            }
        }
    }

    private static float[] run(PeftModel peft, NDList x, String adapter) {
        try (AdapterScope use = peft.useAdapter(adapter)) {
            NDArray out = peft.forward(x).head();
            return out.toFloatArray();
        }
    }

    private static float maxDiff(float[] a, float[] b) {
        float m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
