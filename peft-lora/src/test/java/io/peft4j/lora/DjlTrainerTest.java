package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.util.Pair;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * DJL's own Trainer and EasyTrain.fit on a wrapped DJL TransformerEncoderBlock, in each order a DJL
 * user writes: the model from Model.newInstance + setBlock or from Model.load (whose newTrainer
 * unfreezes the whole tree), wrapped before or after newTrainer. The base (BatchNorm statistics
 * included) must come out byte for byte, the adapter trained, LoRA's zero B untouched by the
 * training config's initializers, and trainableSummary must count the adapter alone.
 */
class DjlTrainerTest {

    private static final LoraConfig CONFIG =
            LoraConfig.builder()
                    .rank(4)
                    .alpha(8)
                    .targets("queryProjection", "valueProjection", "Linear_1")
                    .build();

    /**
     * Outputs are compared to a few float ulps: the same unwrapped block with byte-identical
     * weights was seen to give outputs 6e-8 apart before and after a training run in one JVM
     * (libtorch's CPU GEMMs are not run-to-run reproducible to the bit); the weights themselves are
     * compared byte for byte.
     */
    private static final float ULPS = 1e-6f;

    @TempDir Path tmp;

    @ParameterizedTest(name = "loaded={0}, wrap before newTrainer={1}")
    @CsvSource({"false,true", "false,false", "true,true", "true,false"})
    void easyTrainFitTrainsTheAdapterOnly(boolean loaded, boolean wrapFirst) throws Exception {
        try (NDManager manager = NDManager.newBaseManager();
                Model model = model(loaded, manager)) {
            Block block = model.getBlock();
            Map<String, byte[]> baseBefore = bytes(block);
            NDList x = TestModels.input(TestModels.Kind.DJL_ENCODER, manager, 5);
            NDArray baseOut =
                    block.forward(new ParameterStore(manager, false), x, false).head().duplicate();

            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Loss.l2Loss())
                            .optOptimizer(
                                    Optimizer.adam()
                                            .optLearningRateTracker(Tracker.fixed(0.01f))
                                            .build())
                            // an initializer for every parameter: it must not replace LoRA's zero B
                            .optInitializer(new NormalInitializer(1f), p -> true);
            PeftModel peft;
            Trainer trainer;
            if (wrapFirst) {
                peft = PeftModel.wrap(model, CONFIG);
                trainer = model.newTrainer(config);
            } else {
                trainer = model.newTrainer(config);
                peft = PeftModel.wrap(model, CONFIG);
            }
            try (peft;
                    trainer) {
                trainer.initialize(new Shape(4, 5, TestModels.HIDDEN));
                long expected = 0;
                Map<String, byte[]> adapterBefore = new LinkedHashMap<>();
                for (Map.Entry<String, Parameter> e : peft.trainableParameters().entrySet()) {
                    NDArray a = e.getValue().getArray();
                    expected += a.size();
                    adapterBefore.put(e.getKey(), a.toByteArray());
                    if (e.getKey().contains("lora_B")) {
                        assertEquals(
                                0f,
                                a.abs().max().getFloat(),
                                e.getKey() + " must stay zero after trainer.initialize");
                    }
                }
                assertEquals(
                        expected,
                        peft.trainableSummary().trainable(),
                        peft.trainableSummary().toString());
                assertTrue(
                        TestModels.maxAbsDiff(peft.forward(x).head(), baseOut) <= ULPS,
                        "identity before training");

                NDArray features = manager.randomNormal(new Shape(16, 5, TestModels.HIDDEN));
                NDArray labels = features.get(":, :, 0:4").mul(0.5f);
                ArrayDataset data =
                        new ArrayDataset.Builder()
                                .setData(features)
                                .optLabels(labels)
                                .setSampling(4, true)
                                .build();
                EasyTrain.fit(trainer, 2, data, null);

                assertEquals(
                        expected,
                        peft.trainableSummary().trainable(),
                        "after fit: " + peft.trainableSummary());
                Map<String, byte[]> baseAfter = bytes(block, peft.trainableParameters().values());
                for (Map.Entry<String, byte[]> e : baseBefore.entrySet()) {
                    assertArrayEquals(
                            e.getValue(),
                            baseAfter.get(e.getKey()),
                            "base tensor changed by fit: " + e.getKey());
                }
                int changed = 0;
                for (Map.Entry<String, Parameter> e : peft.trainableParameters().entrySet()) {
                    if (!java.util.Arrays.equals(
                            adapterBefore.get(e.getKey()), e.getValue().getArray().toByteArray())) {
                        changed++;
                    }
                }
                assertEquals(adapterBefore.size(), changed, "every adapter tensor must be trained");
                try (var off = peft.disableAdapters()) {
                    assertTrue(
                            TestModels.maxAbsDiff(peft.forward(x).head(), baseOut) <= ULPS,
                            "disabled = base");
                }
                assertTrue(
                        TestModels.maxAbsDiff(peft.forward(x).head(), baseOut) > 1e-4,
                        "the trained adapter changes the output");
            }
            assertTrue(
                    TestModels.maxAbsDiff(
                                    block.forward(new ParameterStore(manager, false), x, false)
                                            .head(),
                                    baseOut)
                            <= ULPS,
                    "close gives the base");
            Map<String, byte[]> closed = bytes(block);
            assertEquals(
                    baseBefore.keySet(), closed.keySet(), "close leaves exactly the base tensors");
            baseBefore.forEach(
                    (k, v) -> assertArrayEquals(v, closed.get(k), "base tensor after close: " + k));
        }
    }

    /**
     * The DJL model: a block set on a new model, or the same block saved and loaded with
     * Model.load.
     */
    private Model model(boolean loaded, NDManager manager) throws Exception {
        Model model = Model.newInstance("encoder");
        model.setBlock(TestModels.create(TestModels.Kind.DJL_ENCODER, manager, 42));
        if (!loaded) {
            return model;
        }
        Path dir = tmp.resolve("saved");
        model.save(dir, "encoder");
        model.close();
        Model fresh = Model.newInstance("encoder");
        Block block =
                TestModels.create(
                        TestModels.Kind.DJL_ENCODER,
                        manager,
                        99); // other values: load must replace them
        fresh.setBlock(block);
        fresh.load(dir, "encoder");
        return fresh;
    }

    static Map<String, byte[]> bytes(Block block) {
        return bytes(block, java.util.List.of());
    }

    static Map<String, byte[]> bytes(Block block, java.util.Collection<Parameter> skip) {
        Map<String, byte[]> result = new LinkedHashMap<>();
        java.util.Set<Parameter> skipped =
                java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        skipped.addAll(skip);
        for (Pair<String, Parameter> p : block.getParameters()) {
            if (!skipped.contains(p.getValue())) {
                result.put(p.getValue().getId(), p.getValue().getArray().toByteArray());
            }
        }
        return result;
    }
}
