package io.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.nn.Block;
import io.peft4j.core.PeftModel;
import io.peft4j.core.io.SafetensorsFile;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.PeftMethod;
import io.peft4j.core.tree.ModuleTree;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.testing.TinyModels;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every method takes {@code modules_to_save}: the classifier head of a sequence classifier is
 * trained in full with any method and saved under peft's key.
 */
class ModulesToSaveAcrossMethodsTest {

    @Test
    void everyMethodTrainsAndSavesTheClassifierHead(@TempDir Path tmp) throws Exception {
        Path bert = TinyModels.bert(tmp.resolve("bert"));
        for (Map.Entry<String, List<String>> e :
                Map.<String, List<String>>of(
                                "lora",
                                List.of("query", "value"),
                                "mos",
                                List.of("query", "value"),
                                "lift",
                                List.of("query", "value"),
                                "masa",
                                List.of("query", "key", "value"),
                                "shadow",
                                List.of())
                        .entrySet()) {
            PeftMethod method = Methods.find(e.getKey());
            AdapterConfig config =
                    Methods.config(
                            method,
                            2,
                            4,
                            0,
                            e.getValue().isEmpty() ? List.of("query") : e.getValue(),
                            List.of("classifier"),
                            "SEQ_CLS",
                            e.getKey().equals("mos")
                                    ? List.of("r=2", "equivalent_rank=2", "private_rank=1")
                                    : List.of(),
                            w -> {});
            assertEquals(List.of("classifier"), config.modulesToSave(), e.getKey());
            try (Model model = HfCheckpoint.loadForSequenceClassification(bert, 2, Device.cpu())) {
                Block head = ModuleTree.of(model.getBlock()).get("classifier").block();
                long headSize =
                        head.getParameters().values().stream()
                                .mapToLong(p -> p.getArray().size())
                                .sum();
                String plain = model.getBlock().toString();
                try (PeftModel peft = PeftModel.wrap(model.getBlock(), config)) {
                    // DJL's description walks every module and asks it for its shapes (it threw
                    // inside the wrappers before they kept their base's input shapes)
                    String described = model.getBlock().toString();
                    assertTrue(
                            described.length() > plain.length() && described.contains("classifier"),
                            e.getKey() + ": " + described);
                    long trainable = peft.trainableSummary().trainable();
                    assertTrue(
                            peft.trainableParameters()
                                    .containsKey("base_model.model.classifier.weight"),
                            e.getKey() + ": " + peft.trainableParameters().keySet());
                    assertTrue(
                            trainable > headSize,
                            e.getKey()
                                    + ": trainable "
                                    + trainable
                                    + " must include the head's "
                                    + headSize);
                    if (e.getKey().equals("lift")) {
                        // its sparse optimiser finds the LIFT adapter behind the modules_to_save
                        // wrapper
                        io.peft4j.lift.LiftOptimizer.forModel(peft).close();
                    }
                    Path out = tmp.resolve(e.getKey());
                    peft.save(out);
                    try (SafetensorsFile f =
                            SafetensorsFile.open(out.resolve("adapter_model.safetensors"))) {
                        assertTrue(
                                f.names().contains("base_model.model.classifier.weight"),
                                e.getKey() + ": " + f.names());
                    }
                }
            }
        }
    }
}
