package io.peft4j.lift;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import io.peft4j.core.PeftMethods;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LiftConfigJsonTest {

    @Test
    void roundTripsThroughJsonAndIsFoundByPeftType() {
        LiftConfig c =
                LiftConfig.builder()
                        .rank(4)
                        .filterRank(16)
                        .updateInterval(50)
                        .betas(0.8, 0.9)
                        .eps(1e-7)
                        .seed(9)
                        .targets("q_proj", "v_proj")
                        .layersToTransform(List.of(1))
                        .build();
        JsonObject j = c.toJson();
        assertEquals("LIFT", j.get("peft_type").getAsString());
        List<String> warnings = new ArrayList<>();
        assertEquals(c, LiftConfig.fromJson(j, warnings::add));
        assertTrue(warnings.isEmpty(), warnings.toString());
        assertEquals(LiftMethod.class, PeftMethods.forType("LIFT").getClass());
        LiftConfig d = LiftConfig.builder().density(0.05).filterRank(0).build();
        assertEquals(d, LiftConfig.fromJson(d.toJson(), warnings::add));
        assertEquals(MaskSelection.LARGEST, d.maskSelection(), "the paper's rule is the default");
        assertEquals("largest", d.toJson().get("mask_selection").getAsString());
        assertEquals(512, d.exactSvdMaxDim());
        LiftConfig e =
                LiftConfig.builder()
                        .maskSelection(MaskSelection.SMALLEST)
                        .exactSvdMaxDim(0)
                        .build();
        JsonObject ej = e.toJson();
        assertEquals("smallest", ej.get("mask_selection").getAsString());
        assertEquals(0, ej.get("exact_svd_max_dim").getAsInt());
        LiftConfig back = LiftConfig.fromJson(ej, warnings::add);
        assertEquals(e, back);
        assertEquals(MaskSelection.SMALLEST, back.maskSelection());
        assertTrue(warnings.isEmpty(), warnings.toString());
        assertTrue(d.targets().isAllLinear(), "the default targets are all-linear");
    }

    @Test
    void unknownKeysWarnAndMissingOrBadValuesAreNamed() {
        JsonObject j = LiftConfig.builder().build().toJson();
        j.addProperty("lift_future_option", 3);
        List<String> warnings = new ArrayList<>();
        LiftConfig.fromJson(j, warnings::add);
        assertEquals(1, warnings.size());
        assertTrue(warnings.get(0).contains("lift_future_option"));

        JsonObject noR = LiftConfig.builder().build().toJson();
        noR.remove("r");
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> LiftConfig.fromJson(noR, w -> {}))
                        .getMessage()
                        .contains("\"r\""));
        assertTrue(
                assertThrows(IllegalArgumentException.class, () -> LiftConfig.builder().rank(0))
                        .getMessage()
                        .contains("got 0"));
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> LiftConfig.builder().density(1.5))
                        .getMessage()
                        .contains("(0, 1], got 1.5"));
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> LiftConfig.builder().betas(0.9, 1.0))
                        .getMessage()
                        .contains("beta2"));
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> LiftConfig.builder().filterRank(-1))
                        .getMessage()
                        .contains("got -1"));
        JsonObject badSelection = LiftConfig.builder().build().toJson();
        badSelection.addProperty("mask_selection", "lift_sparse");
        String msg =
                assertThrows(
                                IllegalArgumentException.class,
                                () -> LiftConfig.fromJson(badSelection, w -> {}))
                        .getMessage();
        assertTrue(msg.contains("mask_selection") && msg.contains("\"lift_sparse\""), msg);
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> LiftConfig.builder().exactSvdMaxDim(-1))
                        .getMessage()
                        .contains(
                                "exact_svd_max_dim must be >= 0 (0 = always randomized), got -1"));
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> LiftConfig.builder().maskSelection(null))
                        .getMessage()
                        .contains("mask_selection"));
    }
}
