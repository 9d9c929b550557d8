package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.modality.nlp.DefaultVocabulary;
import ai.djl.modality.nlp.embedding.TrainableTextEmbedding;
import ai.djl.modality.nlp.embedding.TrainableWordEmbedding;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.AbstractIndexedEmbedding;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import ai.djl.util.PairList;
import io.peft4j.core.PeftModel;
import io.peft4j.core.tree.ModuleTree;
import java.lang.reflect.Field;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * LoRA on DJL embeddings held in typed fields: a field declared as {@code TrainableWordEmbedding}
 * (DJL's own {@code TrainableTextEmbedding}, and a user's block), as {@code Embedding<String>} and
 * as the interface {@code AbstractIndexedEmbedding}. Each takes the adapter (the output changes
 * once the adapter is non-zero), keeps the embedding's vocabulary API, and gets the original
 * embedding back on close, with the output restored bit for bit.
 */
class DjlTypedEmbeddingFieldsTest {

    private static final List<String> WORDS = List.of("a", "b", "c", "d", "e", "f");
    private static final int WIDTH = 6;

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private static TrainableWordEmbedding words() {
        return TrainableWordEmbedding.builder()
                .setVocabulary(new DefaultVocabulary(WORDS))
                .setEmbeddingSize(WIDTH)
                .build();
    }

    /** Every parameter of {@code block} drawn from {@code seed}. */
    private static void fill(Block block, long seed) {
        Random random = new Random(seed);
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray a = p.getValue().getArray();
            float[] v = new float[(int) a.size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) random.nextGaussian();
            }
            a.set(v);
        }
    }

    private NDArray ids() {
        return manager.create(new long[] {1, 4, 2, 3, 5, 1}, new Shape(2, 3));
    }

    private NDArray run(Block block, NDArray ids) {
        return block.forward(new ParameterStore(manager, false), new NDList(ids), false)
                .head()
                .duplicate();
    }

    private static void nonZero(PeftModel peft) {
        for (Parameter p : peft.adapter(PeftModel.DEFAULT_ADAPTER).parameters().values()) {
            p.getArray().addi(0.3f);
        }
    }

    private static Object field(Object owner, String name) throws ReflectiveOperationException {
        Field f = owner.getClass().getDeclaredField(name);
        f.setAccessible(true);
        return f.get(owner);
    }

    @Test
    void djlTrainableTextEmbeddingsTypedWordEmbeddingFieldTakesLora() throws Exception {
        TrainableWordEmbedding original = words();
        TrainableTextEmbedding text = new TrainableTextEmbedding(original);
        SequentialBlock model =
                new SequentialBlock().add(text).add(Linear.builder().setUnits(2).build());
        model.initialize(manager, DataType.FLOAT32, new Shape(2, 3));
        fill(model, 1);
        NDArray x = ids();
        NDArray base = run(model, x);
        String path =
                ModuleTree.of(model).paths().stream()
                        .filter(p -> p.startsWith("TrainableTextEmbedding."))
                        .findFirst()
                        .orElseThrow();
        try (PeftModel peft =
                PeftModel.wrap(
                        model,
                        LoraConfig.builder()
                                .rank(2)
                                .targets(path.substring(path.indexOf('.') + 1))
                                .build())) {
            Object inField = field(text, "trainableWordEmbedding");
            assertNotSame(original, inField, "the typed field holds the adapter's stand-in");
            assertInstanceOf(TrainableWordEmbedding.class, inField);
            assertInstanceOf(LoraEmbedding.class, text.getChildren().get(0).getValue());
            assertEquals(0f, run(model, x).sub(base).abs().max().getFloat(), "B = 0 at init");
            nonZero(peft);
            assertTrue(
                    run(model, x).sub(base).abs().max().getFloat() > 1e-3,
                    "the adapter on the word embedding changes the output");
            // DJL's own text-embedding API reads the field: the vocabulary is the original's
            TrainableWordEmbedding standIn = (TrainableWordEmbedding) inField;
            assertEquals(original.embed("c"), standIn.embed("c"));
            assertTrue(standIn.vocabularyContains("e"));
            assertEquals(original.preprocessWordToEmbed("d"), standIn.preprocessWordToEmbed("d"));
        }
        assertSame(original, field(text, "trainableWordEmbedding"), "close puts it back");
        assertArrayEquals(base.toByteArray(), run(model, x).toByteArray(), "bit for bit");

        // merge and unload: the original embedding, holding the merged table, back in the field
        PeftModel peft =
                PeftModel.wrap(
                        model,
                        LoraConfig.builder()
                                .rank(2)
                                .targets(path.substring(path.indexOf('.') + 1))
                                .build());
        nonZero(peft);
        NDArray adapted = run(model, x);
        Block plain = peft.mergeAndUnload();
        assertSame(original, field(text, "trainableWordEmbedding"));
        float diff = run(plain, x).sub(adapted).abs().max().getFloat();
        assertTrue(diff < 1e-4, "merged plain model gives the adapted output; diff " + diff);
        assertTrue(run(plain, x).sub(base).abs().max().getFloat() > 1e-3);
    }

    /** A user's block with embeddings in fields typed by DJL's concrete class and interface. */
    static final class TypedFields extends AbstractBlock {
        // not final, like DJL's own fields: the adapter's stand-in is written into them
        private TrainableWordEmbedding words;
        private Embedding<String> tags;
        private AbstractIndexedEmbedding<String> marks;
        private Linear head;

        TypedFields() {
            words = addChildBlock("words", words());
            tags = addChildBlock("tags", words());
            TrainableWordEmbedding m = addChildBlock("marks", words());
            marks = m;
            head = addChildBlock("head", Linear.builder().setUnits(2).build());
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> p) {
            NDArray sum =
                    words.forward(ps, inputs, training, p)
                            .head()
                            .add(tags.forward(ps, inputs, training, p).head())
                            .add(((Block) marks).forward(ps, inputs, training, p).head());
            return head.forward(ps, new NDList(sum), training, p);
        }

        @Override
        protected void initializeChildBlocks(
                NDManager manager, DataType dataType, Shape... inputShapes) {
            words.initialize(manager, dataType, inputShapes);
            tags.initialize(manager, dataType, inputShapes);
            ((Block) marks).initialize(manager, dataType, inputShapes);
            head.initialize(manager, dataType, inputShapes[0].add(WIDTH));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {inputShapes[0].add(2)};
        }
    }

    @Test
    void embeddingFieldsTypedByClassOrInterfaceTakeLoraAndGetTheOriginalBack() throws Exception {
        TypedFields model = new TypedFields();
        model.initialize(manager, DataType.FLOAT32, new Shape(2, 3));
        fill(model, 2);
        Object words = model.words;
        Object tags = model.tags;
        Object marks = model.marks;
        NDArray x = ids();
        NDArray base = run(model, x);
        for (String target : List.of("words", "tags", "marks")) {
            try (PeftModel peft =
                    PeftModel.wrap(model, LoraConfig.builder().rank(2).targets(target).build())) {
                Object inField = field(model, target);
                assertNotSame(
                        target.equals("words") ? words : target.equals("tags") ? tags : marks,
                        inField,
                        target + ": the typed field holds a stand-in");
                assertEquals(
                        0f, run(model, x).sub(base).abs().max().getFloat(), target + " at init");
                nonZero(peft);
                assertTrue(
                        run(model, x).sub(base).abs().max().getFloat() > 1e-3,
                        target + ": the adapter changes the output");
                // the item API through the field still answers with the original vocabulary
                @SuppressWarnings("unchecked")
                AbstractIndexedEmbedding<String> e = (AbstractIndexedEmbedding<String>) inField;
                assertEquals(words().embed("c"), e.embed("c"), target);
                assertEquals(java.util.Optional.of("c"), e.unembed(e.embed("c")), target);
                assertEquals("f", e.decode(e.encode("f")), target);
                // Embedding.embed(manager, items) runs the wrapper: the adapter is in its rows
                if (inField instanceof Embedding<?>) {
                    @SuppressWarnings("unchecked")
                    Embedding<String> emb = (Embedding<String>) inField;
                    NDArray rows = emb.embed(manager, new String[] {"b", "e"});
                    assertEquals(new Shape(2, WIDTH), rows.getShape());
                }
            }
            assertSame(words, model.words, "close puts every original back");
            assertSame(tags, model.tags);
            assertSame(marks, model.marks);
            assertArrayEquals(
                    base.toByteArray(), run(model, x).toByteArray(), target + ": bit for bit");
        }
    }
}
