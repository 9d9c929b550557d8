package io.peft4j.masa;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import com.google.gson.JsonObject;
import io.peft4j.core.PeftModel;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.testing.ManagedTest;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** MASA as a fine-tuning adapter on a 6-layer model: sharing, counts, training, files, config. */
class MasaAdapterTest extends ManagedTest {

    private static final int L = 6;
    @TempDir Path tmp;

    private NDArray baseOut(StackModel m, NDList x) {
        return m.forward(new ParameterStore(manager, false), x, false).head().duplicate();
    }

    @Test
    void atomsAreOneSharedParameterPerDictionary() {
        StackModel model = StackModel.create(manager, L, 1);
        MasaConfig config =
                MasaConfig.builder()
                        .targets("q_proj", "v_proj")
                        .atoms(2)
                        .mode(MasaMode.COEFFICIENTS_AND_ATOMS)
                        .build();
        try (PeftModel peft = PeftModel.wrap(model, config)) {
            MasaAdapter a = (MasaAdapter) peft.adapter(PeftModel.DEFAULT_ADAPTER);
            Parameter q0 = a.sharedAtoms("layers.0.q_proj");
            assertNotNull(q0);
            for (int l = 1; l < L; l++) {
                assertSame(
                        q0,
                        a.sharedAtoms("layers." + l + ".q_proj"),
                        "layer " + l + " must use the same atoms Parameter");
            }
            assertNotSame(q0, a.sharedAtoms("layers.0.v_proj"));
            assertEquals(List.of("layers.0-5.q_proj", "layers.0-5.v_proj"), a.dictionaryKeys());
            long atomKeys =
                    a.parameters().keySet().stream().filter(k -> k.endsWith(".masa_atoms")).count();
            assertEquals(2, atomKeys, "one atoms tensor per dictionary, not per layer");
            // S*out*in + L*S per type
            long h = StackModel.HIDDEN;
            assertEquals(2 * (2 * h * h + L * 2), peft.trainableSummary().trainable());
        }
    }

    @Test
    void coefficientModeTrainsExactlyLTimesSPerTypeAndOnlyThose() {
        StackModel model = StackModel.create(manager, L, 2);
        NDList x = StackModel.input(manager, 3);
        NDArray before = baseOut(model, x);
        MasaConfig config =
                MasaConfig.builder().targets("q_proj", "v_proj", "o_proj").atoms(2).build();
        try (PeftModel peft = PeftModel.wrap(model, config)) {
            assertEquals(3L * L * 2, peft.trainableSummary().trainable());
            Map<String, Parameter> trainable = peft.trainableParameters();
            assertTrue(
                    trainable.keySet().stream().allMatch(k -> k.endsWith(".masa_coefficients")),
                    trainable.keySet().toString());
            assertEquals(
                    0f, peft.forward(x).head().sub(before).abs().max().getFloat(), "exact start");
            Map<String, float[]> start = new LinkedHashMap<>();
            trainable.forEach((k, p) -> start.put(k, p.getArray().toFloatArray()));
            for (int step = 0; step < 3; step++) {
                try (NDManager sm = manager.newSubManager()) {
                    NDList xs = new NDList(x.head().duplicate());
                    xs.attach(sm);
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        gc.backward(peft.forward(xs, true).head().sub(1).square().mean());
                    }
                    for (Parameter p : trainable.values()) {
                        try (NDArray g = p.getArray().getGradient()) {
                            p.getArray().subi(g.mul(1e-3));
                            g.subi(g);
                        }
                    }
                }
            }
            int changed = 0;
            for (Map.Entry<String, Parameter> e : trainable.entrySet()) {
                if (!java.util.Arrays.equals(
                        start.get(e.getKey()), e.getValue().getArray().toFloatArray())) {
                    changed++;
                }
            }
            assertEquals(trainable.size(), changed, "every layer's coefficients get a gradient");
            float diff = peft.forward(x).head().sub(before).abs().max().getFloat();
            assertTrue(diff > 1e-4, "trained adapter must change outputs; diff " + diff);
            // W = sum_s c_ls D_s + R_l: the effective weight moved within the span of the atoms
            MasaAdapter a = (MasaAdapter) peft.adapter(PeftModel.DEFAULT_ADAPTER);
            NDArray w = a.effectiveWeight("layers.2.q_proj");
            NDArray w0 = a.layer("layers.2.q_proj").baseWeight().getArray();
            assertTrue(w.sub(w0).abs().max().getFloat() > 0);
        }
    }

    @Test
    void groupsSplitConsecutiveLayersIntoDictionaries() {
        StackModel model = StackModel.create(manager, L, 3);
        MasaConfig config =
                MasaConfig.builder()
                        .targets("q_proj")
                        .atoms(2)
                        .groups(2)
                        .mode(MasaMode.COEFFICIENTS_AND_ATOMS)
                        .build();
        try (PeftModel peft = PeftModel.wrap(model, config)) {
            MasaAdapter a = (MasaAdapter) peft.adapter(PeftModel.DEFAULT_ADAPTER);
            assertEquals(List.of("layers.0-2.q_proj", "layers.3-5.q_proj"), a.dictionaryKeys());
            assertSame(a.sharedAtoms("layers.0.q_proj"), a.sharedAtoms("layers.2.q_proj"));
            assertNotSame(a.sharedAtoms("layers.2.q_proj"), a.sharedAtoms("layers.3.q_proj"));
            long h = StackModel.HIDDEN;
            assertEquals(2 * (2 * h * h + 3 * 2), peft.trainableSummary().trainable());
        }
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                PeftModel.wrap(
                                        StackModel.create(manager, L, 3),
                                        MasaConfig.builder()
                                                .targets("q_proj")
                                                .atoms(4)
                                                .groups(2)
                                                .build()));
        assertTrue(
                e.getMessage().contains("num_atoms 4") && e.getMessage().contains("3 layer(s)"),
                e.getMessage());
    }

    @Test
    void savedAdapterHoldsCoefficientsOnlyAndRefusesAnotherBase() throws Exception {
        NDList x = StackModel.input(manager, 4);
        MasaConfig config = MasaConfig.builder().targets("q_proj", "v_proj").atoms(2).build();
        NDArray adapted;
        try (PeftModel peft = PeftModel.wrap(StackModel.create(manager, L, 5), config)) {
            for (Parameter p : peft.trainableParameters().values()) {
                p.getArray().addi(0.2f);
            }
            adapted = peft.forward(x).head().duplicate();
            peft.save(tmp);
        }
        try (var f =
                io.peft4j.core.io.SafetensorsFile.open(tmp.resolve("adapter_model.safetensors"))) {
            long coefficients =
                    f.names().stream().filter(n -> n.endsWith(".masa_coefficients")).count();
            assertEquals(2L * L, coefficients);
            assertEquals(
                    2L * L + 2,
                    f.names().size(),
                    "coefficients + one spectrum per dictionary: " + f.names());
        }
        try (PeftModel loaded = PeftModel.load(StackModel.create(manager, L, 5), tmp)) {
            assertTrue(loaded.forward(x).head().sub(adapted).abs().max().getFloat() <= 1e-6);
        }
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> PeftModel.load(StackModel.create(manager, L, 99), tmp));
        assertTrue(
                e.getMessage().contains("differ from those the adapter was fitted on"),
                e.getMessage());
    }

    @Test
    void configJsonRoundTripsAndValidates() {
        MasaConfig c =
                MasaConfig.builder()
                        .targets("q_proj", "k_proj", "v_proj")
                        .atoms(3)
                        .groups(2)
                        .mode(MasaMode.COEFFICIENTS_AND_ATOMS)
                        .layersToTransform(List.of(0, 1, 2, 3))
                        .build();
        List<String> warnings = new ArrayList<>();
        JsonObject json = c.toJson();
        assertEquals("MASA", json.get("peft_type").getAsString());
        json.addProperty("future_option", 1);
        AdapterConfig back = new MasaMethod().parseConfig(json, warnings::add);
        assertEquals(c, back);
        assertEquals(1, warnings.size());
        assertTrue(warnings.get(0).contains("future_option"));
        assertEquals(
                MasaConfig.DEFAULT_TARGETS,
                MasaConfig.builder().atoms(1).build().targets().targetNames());
        JsonObject missing = new JsonObject();
        missing.addProperty("peft_type", "MASA");
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> MasaConfig.fromJson(missing, w -> {}))
                        .getMessage()
                        .contains("num_atoms"));
        JsonObject badMode = c.toJson();
        badMode.addProperty("mode", "everything");
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> MasaConfig.fromJson(badMode, w -> {}))
                        .getMessage()
                        .contains("everything"));
        assertTrue(
                assertThrows(IllegalArgumentException.class, () -> MasaConfig.builder().atoms(0))
                        .getMessage()
                        .contains("got 0"));
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> MasaConfig.builder().atoms(1).groups(-2))
                        .getMessage()
                        .contains("got -2"));
    }

    @Test
    void mergeFoldsToDenseAndStaysEqual() {
        StackModel model = StackModel.create(manager, L, 6);
        NDList x = StackModel.input(manager, 7);
        MasaConfig config =
                MasaConfig.builder()
                        .targets("q_proj", "o_proj")
                        .atoms(3)
                        .mode(MasaMode.COEFFICIENTS_AND_ATOMS)
                        .build();
        try (PeftModel peft = PeftModel.wrap(model, config)) {
            for (Parameter p : peft.trainableParameters().values()) {
                p.getArray().muli(1.1f);
            }
            NDArray adapted = peft.forward(x).head().duplicate();
            MasaAdapter a = (MasaAdapter) peft.adapter(PeftModel.DEFAULT_ADAPTER);
            NDArray expected = a.effectiveWeight("layers.4.o_proj");
            peft.merge();
            assertTrue(
                    a.layer("layers.4.o_proj")
                                    .baseWeight()
                                    .getArray()
                                    .sub(expected)
                                    .abs()
                                    .max()
                                    .getFloat()
                            < 1e-5);
            assertTrue(peft.forward(x).head().sub(adapted).abs().max().getFloat() < 1e-5);
            assertFalse(
                    peft.forward(x)
                                    .head()
                                    .sub(baseOut(StackModel.create(manager, L, 6), x))
                                    .abs()
                                    .max()
                                    .getFloat()
                            < 1e-4);
        }
    }

    @Test
    void refusesNonLinearTargets() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                PeftModel.wrap(
                                        StackModel.create(manager, 2, 1),
                                        MasaConfig.builder().targets("layers").atoms(1).build()));
        assertTrue(
                e.getMessage().contains("'layers'") && e.getMessage().contains("Linear"),
                e.getMessage());
    }

    static Map<String, float[]> snapshot(Map<String, Parameter> ps) {
        Map<String, float[]> m = new LinkedHashMap<>();
        ps.forEach((k, p) -> m.put(k, p.getArray().toFloatArray()));
        return m;
    }

    static void assertSameValues(Map<String, float[]> a, Map<String, float[]> b) {
        assertEquals(a.keySet(), b.keySet());
        a.forEach((k, v) -> assertArrayEquals(v, b.get(k), k));
    }
}
