package io.peft4j.shadow;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.transformer.TransformerEncoderBlock;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.util.Pair;
import io.peft4j.core.AdapterScope;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import io.peft4j.core.tree.ModuleTree;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * ShadowPEFT on DJL's own transformer: a DJL SequentialBlock of {@code TransformerEncoderBlock}s is
 * read as a layer stack, and the shadow is built from DJL's block. Trains with peft4j's FineTuner
 * (base bytes unchanged, the base's BatchNorm statistics included; the shadow's own statistics move
 * and are saved), saves and loads; bad set-ups are refused clearly and leave the model as it was.
 * The contract suite ({@code ShadowContractTest}) runs the common checks on the same base.
 */
class ShadowOnDjlBlocksTest {

    @TempDir Path tmp;

    @Test
    void aDjlEncoderWithoutALayerStackIsRefusedClearly() {
        // a single encoder block is too few layers for ShadowPEFT (injection starts at layer 1)
        try (NDManager manager = NDManager.newBaseManager()) {
            Block model = TestModels.djlEncoder(manager, 1);
            String before = ModuleTree.of(model).paths().toString();
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> PeftModel.wrap(model, ShadowConfig.builder().build()));
            assertTrue(
                    e.getMessage().contains("LayerStack")
                            && e.getMessage().contains("SequentialBlock"),
                    e.getMessage());
            assertTrue(
                    before.equals(ModuleTree.of(model).paths().toString()),
                    "a failed wrap leaves the model as it was");
        }
    }

    @Test
    void trainsSavesAndLoadsOnAStackOfDjlEncoderBlocks() throws Exception {
        Engine.getInstance().setRandomSeed(7); // the dropout masks and the data
        try (NDManager manager = NDManager.newBaseManager()) {
            Block base = TestModels.djlEncoder(manager, 3, 3);
            NDList probe = TestModels.input(TestModels.Kind.DJL_ENCODER, manager, 4);
            NDArray baseOut = forward(base, probe, manager);
            Map<Object, byte[]> baseBytes = bytes(base);
            NDArray x = manager.randomNormal(new Shape(24, 5, TestModels.HIDDEN));
            NDArray y = manager.randomNormal(new Shape(24, 5, 4));
            Path dir = tmp.resolve("djl-shadow");
            NDArray trained;
            try (PeftModel peft = PeftModel.wrap(base, ShadowConfig.builder().seed(5).build())) {
                ShadowConfig resolved = ShadowModel.of(peft).config();
                assertEquals(ShadowFamily.DJL, resolved.family());
                assertEquals(16, resolved.shadowHiddenSize());
                assertEquals(2, resolved.shadowNumAttentionHeads());
                assertEquals(16, resolved.shadowIntermediateSize()); // half the base's 32
                assertEquals(
                        java.util.List.of(
                                "TransformerEncoderBlock_1",
                                "TransformerEncoderBlock_2",
                                "TransformerEncoderBlock_3"),
                        ModuleTree.of(base).nodes().stream()
                                .filter(n -> n.block() instanceof ShadowLayer)
                                .map(n -> n.path())
                                .toList(),
                        "every encoder block is wrapped, in order");
                Map<String, NDArray> stateBefore = copies(peft.adapter("default").frozenState());
                assertFalse(stateBefore.isEmpty(), "the shadow's BatchNorm statistics are state");
                assertTrue(
                        stateBefore.keySet().stream()
                                .allMatch(k -> k.startsWith("shadow_model.layers.0.")),
                        stateBefore.keySet().toString());

                TrainingData data =
                        new TrainingData() {
                            @Override
                            public int size() {
                                return 24;
                            }

                            @Override
                            public NDList batch(NDManager m, int[] idx) {
                                return new NDList(x.get(m.create(idx)), y.get(m.create(idx)));
                            }
                        };
                float before = evalLoss(peft, x, y);
                TrainingResult result =
                        FineTuner.builder()
                                .learningRate(3e-2)
                                .batchSize(8)
                                .epochs(15)
                                .seed(1)
                                .progress(false)
                                .build()
                                .fit(
                                        peft,
                                        (b, training) ->
                                                peft.forward(new NDList(b.get(0)), training)
                                                        .head()
                                                        .sub(b.get(1))
                                                        .square()
                                                        .mean(),
                                        data);
                assertEquals(45, result.steps());
                float after = evalLoss(peft, x, y);
                assertTrue(
                        after < 0.95f * before,
                        "training lowers the training set's loss: " + before + " -> " + after);
                // the wrapped block also lists the shadow's tensors (for DJL's Trainer); the base's
                // are all still there, unchanged
                Map<Object, byte[]> baseAfter = bytes(base);
                baseBytes.forEach(
                        (k, v) ->
                                assertArrayEquals(
                                        v,
                                        baseAfter.get(k),
                                        "base tensor changed by training: " + k));
                boolean moved = false;
                for (Map.Entry<String, NDArray> e :
                        peft.adapter("default").frozenState().entrySet()) {
                    moved |=
                            TestModels.maxAbsDiff(e.getValue(), stateBefore.get(e.getKey())) > 1e-6;
                }
                assertTrue(moved, "training passes update the shadow's own BatchNorm statistics");
                trained = peft.forward(probe).head().duplicate();
                assertTrue(
                        TestModels.maxAbsDiff(trained, baseOut) > 1e-4,
                        "the trained shadow changes the output");
                try (AdapterScope off = peft.disableAdapters()) {
                    // DJL's block runs 2-D addmm GEMMs whose rounding was seen to differ by one ulp
                    // between two runs of the same base in one JVM (as the contract suite notes)
                    float d = TestModels.maxAbsDiff(peft.forward(probe).head(), baseOut);
                    assertTrue(d <= 1e-6f * scale(baseOut), "disabled gives the base; diff " + d);
                }
                NDList both = ShadowModel.of(peft).forwardWithShadow(probe, false);
                assertEquals(0f, TestModels.maxAbsDiff(both.get(0), trained));
                assertEquals(new Shape(3, 5, 4), both.get(1).getShape(), "the head on s0");
                assertThrows(UnsupportedOperationException.class, peft::merge);
                peft.save(dir);
            }
            float closed = TestModels.maxAbsDiff(forward(base, probe, manager), baseOut);
            assertTrue(closed <= 1e-6f * scale(baseOut), "close() gives the base; diff " + closed);
            Block fresh = TestModels.djlEncoder(manager, 3, 3);
            try (PeftModel loaded = PeftModel.load(fresh, dir)) {
                assertEquals(
                        ShadowFamily.DJL, ShadowModel.of(loaded).config().family(), "saved family");
                assertTrue(
                        TestModels.maxAbsDiff(loaded.forward(probe).head(), trained) <= 1e-6,
                        "the loaded adapter, trained statistics included, reproduces the output");
            }
        }
    }

    /** DJL's own training loop, with the model wrapped before or after {@code newTrainer}. */
    @ParameterizedTest(name = "wrap before newTrainer={0}")
    @ValueSource(booleans = {true, false})
    void easyTrainFitTrainsTheShadowOnly(boolean wrapFirst) throws Exception {
        Engine.getInstance().setRandomSeed(11);
        try (NDManager manager = NDManager.newBaseManager();
                Model model = Model.newInstance("djl-encoders")) {
            model.setBlock(TestModels.djlEncoder(manager, 3, 3));
            Block block = model.getBlock();
            Map<Object, byte[]> baseBefore = bytes(block);
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Loss.l2Loss())
                            .optOptimizer(
                                    Optimizer.adam()
                                            .optLearningRateTracker(Tracker.fixed(0.01f))
                                            .build());
            PeftModel peft;
            Trainer trainer;
            if (wrapFirst) {
                peft = PeftModel.wrap(model, ShadowConfig.builder().build());
                trainer = model.newTrainer(config);
            } else {
                trainer = model.newTrainer(config);
                peft = PeftModel.wrap(model, ShadowConfig.builder().build());
            }
            try (peft;
                    trainer) {
                trainer.initialize(new Shape(4, 5, TestModels.HIDDEN));
                Map<String, byte[]> adapterBefore = new LinkedHashMap<>();
                peft.trainableParameters()
                        .forEach((k, p) -> adapterBefore.put(k, p.getArray().toByteArray()));
                NDArray features = manager.randomNormal(new Shape(16, 5, TestModels.HIDDEN));
                NDArray labels = features.get(":, :, 0:4").mul(0.5f);
                ArrayDataset data =
                        new ArrayDataset.Builder()
                                .setData(features)
                                .optLabels(labels)
                                .setSampling(4, true)
                                .build();
                EasyTrain.fit(trainer, 2, data, null);
                Map<Object, byte[]> baseAfter = bytes(block);
                baseBefore.forEach(
                        (k, v) ->
                                assertArrayEquals(
                                        v, baseAfter.get(k), "base tensor changed by fit: " + k));
                int changed = 0;
                for (Map.Entry<String, Parameter> e : peft.trainableParameters().entrySet()) {
                    if (!java.util.Arrays.equals(
                            adapterBefore.get(e.getKey()), e.getValue().getArray().toByteArray())) {
                        changed++;
                    }
                }
                // the last layer's update is unused by design (ShadowLayer), so its tensors get
                // zero gradients; everything else trains
                assertTrue(
                        changed >= adapterBefore.size() - 4,
                        changed + " of " + adapterBefore.size() + " shadow tensors trained");
            }
        }
    }

    @Test
    void encoderBlocksWithOtherBlocksBetweenThemAreRefused() {
        try (NDManager manager = NDManager.newBaseManager()) {
            SequentialBlock model =
                    new SequentialBlock()
                            .add(encoder())
                            .add(Linear.builder().setUnits(TestModels.HIDDEN).build())
                            .add(encoder())
                            .add(Linear.builder().setUnits(4).build());
            model.initialize(manager, DataType.FLOAT32, new Shape(1, 5, TestModels.HIDDEN));
            String before = ModuleTree.of(model).paths().toString();
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> PeftModel.wrap(model, ShadowConfig.builder().build()));
            assertTrue(
                    e.getMessage().contains("one after the other")
                            && e.getMessage().contains("[0, 2]"),
                    e.getMessage());
            assertEquals(before, ModuleTree.of(model).paths().toString());
        }
    }

    @Test
    void anotherFamilyOnDjlBlocksIsRefusedNamingTheRightOne() {
        try (NDManager manager = NDManager.newBaseManager()) {
            Block model = TestModels.djlEncoder(manager, 1, 2);
            String before = ModuleTree.of(model).paths().toString();
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    PeftModel.wrap(
                                            model,
                                            ShadowConfig.builder()
                                                    .family(ShadowFamily.BERT)
                                                    .build()));
            assertTrue(e.getMessage().contains("\"djl\""), e.getMessage());
            assertEquals(before, ModuleTree.of(model).paths().toString());
        }
    }

    private static TransformerEncoderBlock encoder() {
        return new TransformerEncoderBlock(
                TestModels.HIDDEN, 2, 2 * TestModels.HIDDEN, 0f, Activation::gelu);
    }

    /** Mean squared error over the whole set, in an inference pass. */
    private static float evalLoss(PeftModel peft, NDArray x, NDArray y) {
        return peft.forward(new NDList(x)).head().sub(y).square().mean().getFloat();
    }

    private static float scale(NDArray a) {
        return Math.max(1f, a.abs().max().getFloat());
    }

    private static NDArray forward(Block block, NDList x, NDManager manager) {
        return block.forward(new ParameterStore(manager, false), x, false).head().duplicate();
    }

    private static Map<Object, byte[]> bytes(Block block) {
        Map<Object, byte[]> out = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            // by identity: wrapping changes the names DJL gives the base's parameters
            out.put(p.getValue().getId(), p.getValue().getArray().toByteArray());
        }
        return out;
    }

    private static Map<String, NDArray> copies(Map<String, NDArray> arrays) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        arrays.forEach((k, v) -> out.put(k, v.duplicate()));
        return out;
    }
}
