package io.peft4j.tasks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.TrainableModel;
import io.peft4j.models.BertForSequenceClassification;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.TextTokenizer;
import io.peft4j.testing.TinyModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The task classes on tiny random models: batching, loss, metrics, and that training improves them.
 */
class TasksTest {

    @TempDir Path dir;

    private static TrainableModel everything(Model model) {
        Map<String, Parameter> all = new LinkedHashMap<>();
        model.getBlock().getParameters().forEach(p -> all.put(p.getKey(), p.getValue()));
        return () -> all;
    }

    static List<LabeledText> sentiment() {
        List<LabeledText> out = new ArrayList<>();
        String[] good = {"good", "great", "fine"};
        String[] bad = {"bad", "awful", "dull"};
        String[] things = {"the film", "the movie", "a story", "it"};
        for (String t : things) {
            for (int i = 0; i < 3; i++) {
                out.add(new LabeledText(t + " was " + good[i], 1));
                out.add(new LabeledText(t + " is very " + bad[i] + " .", 0));
            }
        }
        return out;
    }

    @Test
    void classificationBatchesLossAndTrainingToPerfectAccuracy() throws Exception {
        Path bert = TinyModels.bert(dir.resolve("bert"));
        try (Model model = HfCheckpoint.loadForSequenceClassification(bert, 2, Device.cpu());
                TextTokenizer tok = TextTokenizer.builder(bert).maxLength(6).build()) {
            List<LabeledText> data = sentiment();
            ClassificationTask task = new ClassificationTask(model.getBlock(), tok, data, 2);
            assertEquals(24, task.size());
            try (NDManager m = NDManager.newBaseManager()) {
                NDList batch = task.batch(m, new int[] {0, 1});
                // "[CLS] the film was good [SEP]" (6) and "[CLS] the film is very [SEP]" truncated
                // to 6
                assertArrayEquals(
                        new long[] {2, 4, 6, 9, 11, 3}, batch.get(0).get(0).toLongArray());
                assertArrayEquals(
                        new long[] {2, 4, 6, 10, 17, 3}, batch.get(0).get(1).toLongArray());
                assertEquals(2, batch.get(0).getShape().get(0));
                assertArrayEquals(new long[] {1, 0}, batch.get(3).toLongArray());
                NDList ragged =
                        new ClassificationTask(
                                        model.getBlock(),
                                        tok,
                                        List.of(
                                                new LabeledText("good", 1),
                                                new LabeledText("the film was bad", 0)),
                                        2)
                                .batch(m, new int[] {0, 1});
                assertArrayEquals(
                        new long[] {1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1},
                        ragged.get(1).toLongArray());
                assertArrayEquals(
                        new long[] {2, 11, 3, 0, 0, 0}, ragged.get(0).get(0).toLongArray());
            }
            ClassificationTask.Metrics before = task.evaluate(5);
            assertEquals(24, before.examples());
            assertTrue(before.loss() > 0.3 && before.loss() < 2, "loss at init " + before.loss());
            var result =
                    FineTuner.builder()
                            .learningRate(1e-2)
                            .maxSteps(60)
                            .batchSize(8)
                            .seed(1)
                            .progress(false)
                            .build()
                            .fit(everything(model), task, task);
            ClassificationTask.Metrics after = task.evaluate(7);
            assertTrue(after.loss() < before.loss() / 3, before + " -> " + after);
            assertEquals(1.0, after.accuracy(), before + " -> " + after);
            assertTrue(result.finalLoss() < result.losses().get(0));
            assertArrayEquals(task.labels(), task.predict(3));
        }
    }

    @Test
    void labelsMustFitTheHead() throws Exception {
        Path bert = TinyModels.bert(dir.resolve("bert"));
        try (Model model = HfCheckpoint.loadForSequenceClassification(bert, 2, Device.cpu());
                TextTokenizer tok = TextTokenizer.of(bert)) {
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    new ClassificationTask(
                                            model.getBlock(),
                                            tok,
                                            List.of(new LabeledText("good", 2)),
                                            2));
            assertEquals(
                    "example 0 has label 2 but the model has 2 classes (labels 0..1)",
                    e.getMessage());
            assertEquals(3, ClassificationTask.numLabels(List.of(new LabeledText("x", 2))));
        }
    }

    @Test
    void unfreezeHeadMakesOnlyTheClassifierTrainable() throws Exception {
        Path bert = TinyModels.bert(dir.resolve("bert"));
        try (Model model = HfCheckpoint.loadForSequenceClassification(bert, 2, Device.cpu())) {
            BertForSequenceClassification block = (BertForSequenceClassification) model.getBlock();
            block.namedParameters().values().forEach(p -> p.freeze(true));
            Map<String, Parameter> head = ClassificationTask.unfreezeHead(block);
            assertEquals(
                    List.of("classifier.weight", "classifier.bias"),
                    new ArrayList<>(head.keySet()));
            assertTrue(
                    head.values().stream().allMatch(Parameter::requiresGradient),
                    "the head trains");
            block.namedParameters()
                    .forEach(
                            (name, p) ->
                                    assertEquals(
                                            name.startsWith("classifier."),
                                            p.requiresGradient(),
                                            name));
            assertEquals(
                    block.namedParameters().get("classifier.weight"),
                    head.get("classifier.weight"));
        }
    }

    @Test
    void causalLmPacksScoresAndLearns() throws Exception {
        Path llama = TinyModels.llama(dir.resolve("llama"));
        try (Model model = HfCheckpoint.load(llama, Device.cpu());
                TextTokenizer tok = TextTokenizer.of(llama)) {
            List<TextExample> docs = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                docs.add(TextExample.plain("the cat sat on the mat . the dog ran"));
            }
            // 12 documents of BOS + 10 words = 132 tokens -> blocks of 16: 8 full, one of 4
            CausalLmTask task = new CausalLmTask(model.getBlock(), tok, docs, 16, 3);
            assertEquals(9, task.size());
            assertEquals(8 * 15 + 3, task.scoredTokens());
            assertArrayEquals(
                    new long[] {2, 4, 24, 25, 26, 4, 27, 30, 4, 28, 29, 2, 4, 24, 25, 26},
                    task.sequence(0));
            try (NDManager m = NDManager.newBaseManager()) {
                NDList batch = task.batch(m, new int[] {8, 0});
                assertEquals(16, batch.get(0).getShape().get(1));
                float[] scored = batch.get(2).get(0).toFloatArray();
                assertEquals(0f, scored[0]);
                assertEquals(1f, scored[3]);
                assertEquals(0f, scored[4], "padding is not scored");
                // the batch loss over all sequences equals the token-level evaluation
                int[] all = {0, 1, 2, 3, 4, 5, 6, 7, 8};
                float loss = task.loss(task.batch(m, all), false).getFloat();
                assertEquals(task.evaluate(4).nll(), loss, 1e-4);
            }
            CausalLmTask.Metrics before = task.evaluate(4);
            assertEquals(123, before.tokens());
            assertTrue(before.nll() > 2.5, "random model NLL " + before.nll());
            FineTuner.builder()
                    .learningRate(1e-2)
                    .maxSteps(80)
                    .batchSize(4)
                    .seed(2)
                    .progress(false)
                    .build()
                    .fit(everything(model), task, task);
            CausalLmTask.Metrics after = task.evaluate(4);
            assertTrue(after.nll() < 0.5 * before.nll(), before + " -> " + after);
        }
    }

    @Test
    void instructionExamplesScoreOnlyTheAnswerAndEos() throws Exception {
        Path llama = TinyModels.llama(dir.resolve("llama"));
        try (Model model = HfCheckpoint.load(llama, Device.cpu());
                TextTokenizer tok = TextTokenizer.of(llama)) {
            CausalLmTask task =
                    new CausalLmTask(
                            model.getBlock(),
                            tok,
                            List.of(
                                    new TextExample("the cat", " sat on the mat"),
                                    new TextExample("the dog", " ran")),
                            64,
                            3);
            assertEquals(2, task.size());
            assertArrayEquals(new long[] {2, 4, 24, 25, 26, 4, 27, 3}, task.sequence(0));
            assertEquals(5 + 2, task.scoredTokens(), "sat on the mat </s> + ran </s>");
            try (NDManager m = NDManager.newBaseManager()) {
                assertArrayEquals(
                        new float[] {0, 0, 0, 1, 1, 1, 1, 1},
                        task.batch(m, new int[] {0}).get(2).toFloatArray());
            }
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    new CausalLmTask(
                                            model.getBlock(),
                                            tok,
                                            List.of(new TextExample("the cat sat on", " mat")),
                                            3,
                                            3));
            assertTrue(
                    e.getMessage().startsWith("no sequence with a token to score"), e.getMessage());
        }
    }
}
