package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.AbstractSymbolBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.nn.transformer.TransformerEncoderBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import ai.djl.util.PairList;
import io.peft4j.core.AdapterScope;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.testing.ManagedTest;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.TrainingData;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Adapters on DJL's own blocks and on user blocks with typed fields; DJL's save/load; frozen norms;
 * symbol blocks.
 */
class DjlBlocksTest extends ManagedTest {

    @TempDir Path tmp;

    private static ScaledDotProductAttentionBlock attention(Block model) {
        TransformerEncoderBlock encoder =
                (TransformerEncoderBlock) model.getChildren().get(0).getValue();
        return (ScaledDotProductAttentionBlock) encoder.getChildren().get(0).getValue();
    }

    private NDArray run(Block block, NDList x) {
        return block.forward(new ParameterStore(manager, false), x, false).head();
    }

    @Test
    void attentionFieldsTypedLinearTakeTheWrapperAndGetTheOriginalBack() {
        Block model = TestModels.djlEncoder(manager, 1);
        NDList x = TestModels.input(TestModels.Kind.DJL_ENCODER, manager, 2);
        Linear query = attention(model).getQueryProjection();
        NDArray base = run(model, x).duplicate();
        try (PeftModel peft =
                PeftModel.wrap(
                        model, LoraConfig.builder().rank(2).targets("queryProjection").build())) {
            Linear standIn =
                    attention(model).getQueryProjection(); // the private field DJL's forward reads
            assertNotSame(query, standIn, "the typed field must hold the adapter's stand-in");
            assertInstanceOf(
                    LoraLinear.class,
                    attention(model).getChildren().get(1).getValue(),
                    "children list holds the wrapper");
            assertEquals(peft.baseModel().getParameters().size(), model.getParameters().size());
            peft.adapter(PeftModel.DEFAULT_ADAPTER)
                    .parameters()
                    .values()
                    .forEach(p -> p.getArray().addi(0.2f));
            assertTrue(
                    TestModels.maxAbsDiff(run(model, x), base) > 1e-4,
                    "the adapter on queryProjection changes the output");
            // what a user asking DJL's getter for the projection's parameters sees: the wrapper's
            assertTrue(
                    standIn.getParameters().keys().stream().anyMatch(k -> k.contains("lora_A")),
                    standIn.getParameters().keys().toString());
        }
        assertSame(
                query,
                attention(model).getQueryProjection(),
                "close puts the original Linear back in the field");
        assertTrue(TestModels.maxAbsDiff(run(model, x), base) <= 1e-6);
    }

    /**
     * A user's block with a projection in a field typed Linear and another held only in a field.
     */
    static final class UserBlock extends AbstractBlock {
        private final Linear registered;
        private Linear fieldOnly;

        UserBlock(NDManager manager, Random random) {
            inputShapes = new Shape[0];
            registered = addChildBlock("proj", TestModels.linear(manager, 8, 8, true, random));
            fieldOnly = TestModels.linear(manager, 8, 4, false, random);
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            return fieldOnly.forward(
                    ps, registered.forward(ps, inputs, training, params), training, params);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {inputShapes[0].slice(0, inputShapes[0].dimension() - 1).add(4)};
        }
    }

    @Test
    void userBlockWithTypedFieldsWrapsMergesAndSaves() throws Exception {
        NDList x = TestModels.input(TestModels.Kind.MLP, manager, 4);
        Path dir = tmp.resolve("adapter");
        NDArray adapted;
        UserBlock block = new UserBlock(manager, new Random(5));
        try (PeftModel peft =
                PeftModel.wrap(
                        block, LoraConfig.builder().rank(2).targets("proj", "fieldOnly").build())) {
            assertEquals(2, peft.adapter(PeftModel.DEFAULT_ADAPTER).parameters().size() / 2);
            peft.adapter(PeftModel.DEFAULT_ADAPTER)
                    .parameters()
                    .values()
                    .forEach(p -> p.getArray().addi(0.2f));
            adapted = run(block, x).duplicate();
            peft.save(dir);
            peft.merge();
            assertTrue(TestModels.maxAbsDiff(run(block, x), adapted) < 1e-5);
            peft.unmerge();
        }
        try (PeftModel loaded = PeftModel.load(new UserBlock(manager, new Random(5)), dir)) {
            assertTrue(TestModels.maxAbsDiff(loaded.forward(x).head(), adapted) <= 1e-6);
        }
    }

    @Test
    void modelSaveAndLoadOfAWrappedModelAndOfAMergedOne() throws Exception {
        NDList x = TestModels.input(TestModels.Kind.DJL_ENCODER, manager, 2);
        LoraConfig config =
                LoraConfig.builder().rank(2).targets("queryProjection", "Linear_1").build();
        NDArray adapted;
        try (Model model = Model.newInstance("enc")) {
            model.setBlock(TestModels.djlEncoder(manager, 1));
            PeftModel peft = PeftModel.wrap(model, config);
            peft.adapter(PeftModel.DEFAULT_ADAPTER)
                    .parameters()
                    .values()
                    .forEach(p -> p.getArray().addi(0.1f));
            adapted = peft.forward(x).head().duplicate();
            // 1. the wrapped model: DJL's .params lists tensors by position, so it loads into the
            // same architecture wrapped with the same config (base and adapter together)
            model.save(tmp.resolve("wrapped"), "enc");
            // 2. merged: a plain block again, loadable into the plain architecture
            peft.mergeAndUnload();
            model.save(tmp.resolve("merged"), "enc");
        }
        try (Model model = Model.newInstance("enc")) {
            model.setBlock(TestModels.djlEncoder(manager, 77));
            try (PeftModel peft = PeftModel.wrap(model, config)) {
                model.load(tmp.resolve("wrapped"), "enc");
                assertTrue(
                        TestModels.maxAbsDiff(peft.forward(x).head(), adapted) <= 1e-6,
                        "wrapped save/load");
            }
        }
        try (Model model = Model.newInstance("enc")) {
            model.setBlock(TestModels.djlEncoder(manager, 77));
            model.load(tmp.resolve("merged"), "enc");
            assertTrue(
                    TestModels.maxAbsDiff(run(model.getBlock(), x), adapted) < 1e-5,
                    "merged save/load");
        }
        try (Model model = Model.newInstance("enc")) {
            model.setBlock(TestModels.djlEncoder(manager, 77));
            // a wrapped .params file does not fit the plain architecture: DJL refuses it
            assertThrows(Exception.class, () -> model.load(tmp.resolve("wrapped"), "enc"));
        }
    }

    private static Map<String, byte[]> runningStats(Block block) {
        Map<String, byte[]> stats = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            Parameter.Type t = p.getValue().getType();
            if (t == Parameter.Type.RUNNING_MEAN || t == Parameter.Type.RUNNING_VAR) {
                stats.put(p.getKey(), p.getValue().getArray().toByteArray());
            }
        }
        return stats;
    }

    private void train(PeftModel peft, NDList x) {
        TrainingData data =
                new TrainingData() {
                    @Override
                    public int size() {
                        return 3;
                    }

                    @Override
                    public NDList batch(NDManager m, int[] idx) {
                        return new NDList(x.head().get(m.create(idx)));
                    }
                };
        FineTuner.builder()
                .learningRate(1e-2)
                .maxSteps(5)
                .batchSize(3)
                .seed(1)
                .progress(false)
                .build()
                .fit(
                        peft,
                        (batch, training) -> peft.forward(batch, training).head().square().mean(),
                        data);
    }

    @Test
    void batchNormStatisticsStayFrozenUnlessAllowed() {
        Block model = TestModels.djlEncoder(manager, 1);
        NDList x = TestModels.input(TestModels.Kind.DJL_ENCODER, manager, 2);
        Map<String, byte[]> before = runningStats(model);
        assertEquals(4, before.size(), "two BatchNorms with mean and variance");
        NDArray base = run(model, x).duplicate();
        try (PeftModel peft =
                PeftModel.wrap(
                        model, LoraConfig.builder().rank(2).targets("queryProjection").build())) {
            train(peft, x);
            Map<String, byte[]> after = runningStats(model);
            before.forEach(
                    (k, v) ->
                            assertArrayEquals(
                                    v,
                                    after.get(k),
                                    "running statistic changed while training the adapter: " + k));
            try (AdapterScope off = peft.disableAdapters()) {
                assertTrue(
                        TestModels.maxAbsDiff(peft.forward(x).head(), base) <= 1e-6,
                        "disabled = base");
            }
            // the option: let the statistics train, as DJL does by default
            peft.trainNormStatistics(true);
            train(peft, x);
            Map<String, byte[]> allowed = runningStats(model);
            assertTrue(
                    before.entrySet().stream()
                            .anyMatch(
                                    e ->
                                            !java.util.Arrays.equals(
                                                    e.getValue(), allowed.get(e.getKey()))),
                    "with trainNormStatistics(true) the running statistics must update");
        }
    }

    @Test
    void closeLeavesDjlTrainingBehaviourOfBatchNormAsItWas() {
        Block model = TestModels.djlEncoder(manager, 1);
        NDList x = TestModels.input(TestModels.Kind.DJL_ENCODER, manager, 2);
        Map<String, byte[]> before = runningStats(model);
        try (PeftModel peft =
                PeftModel.wrap(
                        model, LoraConfig.builder().rank(2).targets("queryProjection").build())) {
            Map<String, byte[]> during = runningStats(model);
            before.forEach((k, v) -> assertArrayEquals(v, during.get(k)));
        }
        // unwrapped, a training pass updates the statistics again (DJL's own behaviour is back)
        block(model, x);
        Map<String, byte[]> after = runningStats(model);
        assertTrue(
                before.entrySet().stream()
                        .anyMatch(
                                e ->
                                        !java.util.Arrays.equals(
                                                e.getValue(), after.get(e.getKey()))));
    }

    private void block(Block model, NDList x) {
        try (ai.djl.training.GradientCollector gc =
                ai.djl.engine.Engine.getInstance().newGradientCollector()) {
            model.forward(new ParameterStore(manager, false), x, true).head().sum();
        }
    }

    /**
     * What Criteria / Model.load of a TorchScript file give: a SymbolBlock with parameters and no
     * modules.
     */
    static final class TracedGraph extends AbstractSymbolBlock {
        private final ai.djl.nn.ParameterList params = new ai.djl.nn.ParameterList();

        TracedGraph(NDManager manager) {
            params.add(
                    "weight",
                    Parameter.builder()
                            .setName("weight")
                            .setType(Parameter.Type.WEIGHT)
                            .optArray(manager.ones(new Shape(4, 4)))
                            .build());
        }

        @Override
        public ai.djl.nn.ParameterList getDirectParameters() {
            return params;
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> p) {
            return inputs;
        }
    }

    @Test
    void symbolBlocksGetAnErrorThatSaysWhyAndWhatToDo() {
        TracedGraph traced = new TracedGraph(manager);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                PeftModel.wrap(
                                        traced,
                                        LoraConfig.builder().rank(2).targets("q_proj").build()));
        assertTrue(
                e.getMessage().contains("TorchScript")
                        && e.getMessage().contains("no modules to wrap")
                        && e.getMessage().contains("HfCheckpoint")
                        && e.getMessage().contains("block tree"),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PeftModel.load(traced, tmp));
        try (Model model = Model.newInstance("traced")) {
            model.setBlock(traced);
            assertThrows(
                    IllegalArgumentException.class,
                    () -> PeftModel.wrap(model, LoraConfig.builder().rank(2).allLinear().build()));
        }
        // a symbol block inside a block tree: the rest of the tree still takes adapters
        SequentialBlock mixed =
                new SequentialBlock()
                        .add(traced)
                        .add(TestModels.linear(manager, 4, 4, true, new Random(1)));
        try (PeftModel peft =
                PeftModel.wrap(mixed, LoraConfig.builder().rank(2).targets("Linear").build())) {
            assertEquals(1, peft.adapter(PeftModel.DEFAULT_ADAPTER).parameters().size() / 2);
        }
        // a target that could only be inside the graph: the error says why it matched nothing
        SequentialBlock wrapped =
                new SequentialBlock()
                        .add(new TracedGraph(manager))
                        .add(TestModels.linear(manager, 4, 4, true, new Random(1)));
        IllegalArgumentException nested =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                PeftModel.wrap(
                                        wrapped,
                                        LoraConfig.builder().rank(2).targets("q_proj").build()));
        assertTrue(
                nested.getMessage().contains("matched no module")
                        && nested.getMessage().contains("[TracedGraph]")
                        && nested.getMessage().contains("TorchScript"),
                nested.getMessage());
    }
}
