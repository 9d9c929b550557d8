package io.peft4j.testing;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.peft4j.models.BertConfig;
import io.peft4j.models.BertModel;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.LlamaConfig;
import io.peft4j.models.LlamaForCausalLM;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Tiny random LLaMA and BERT models for fast tests, the one place the modules' tests get them from:
 * in memory with weights that depend only on a seed ({@link #llamaConfig}, {@link #bertConfig},
 * {@link #qwen2Config}, {@link #seeded}, {@link #initialized}), or written as Hugging Face folders
 * with a word-level tokenizer ({@link #bert(Path)}, {@link #llama(Path)}) for the CLI and task
 * tests.
 */
public final class TinyModels {

    /** Vocabulary size of {@link #llamaConfig} and {@link #bertConfig}. */
    public static final int VOCAB = 32;

    /** Hidden size of {@link #llamaConfig} and {@link #bertConfig}. */
    public static final int HIDDEN = 16;

    /** The words the tiny tokenizers know (ids after the 4 special tokens). */
    public static final List<String> WORDS =
            List.of(
                    "the", "a", "film", "movie", "story", "was", "is", "good", "great", "fine",
                    "bad", "awful", "dull", "very", "not", "and", "i", "liked", "hated", "it",
                    "cat", "sat", "on", "mat", "dog", "ran", ".", ",");

    private TinyModels() {}

    /**
     * A tiny LLaMA: vocab {@value #VOCAB}, hidden {@value #HIDDEN}, MLP 24, 2 heads, 1 KV head,
     * RMSNorm eps 1e-5, untied head. A builder, so a test changes only what it is about.
     *
     * @param layers decoder layers
     * @return the config's builder
     */
    public static LlamaConfig.Builder llamaConfig(int layers) {
        return LlamaConfig.builder()
                .vocabSize(VOCAB)
                .hiddenSize(HIDDEN)
                .intermediateSize(24)
                .numHiddenLayers(layers)
                .numAttentionHeads(2)
                .numKeyValueHeads(1)
                .rmsNormEps(1e-5)
                .tieWordEmbeddings(false);
    }

    /**
     * A tiny BERT: vocab {@value #VOCAB}, hidden {@value #HIDDEN}, 2 heads, MLP 24, 16 positions, 2
     * token types, no dropout, no pooler.
     *
     * @param layers encoder layers
     * @return the config's builder
     */
    public static BertConfig.Builder bertConfig(int layers) {
        return BertConfig.builder()
                .vocabSize(VOCAB)
                .hiddenSize(HIDDEN)
                .numHiddenLayers(layers)
                .numAttentionHeads(2)
                .intermediateSize(24)
                .maxPositionEmbeddings(16)
                .typeVocabSize(2)
                .hiddenDropoutProb(0)
                .attentionProbsDropoutProb(0)
                .addPoolingLayer(false);
    }

    /**
     * A small Qwen2-style decoder (q/k/v biases, tied head): hidden 32, MLP 48, 4 heads, 2 KV
     * heads, 64 positions, initializer range 0.2; big enough for chunked losses and checkpointing.
     *
     * @param vocab vocabulary size
     * @param layers decoder layers
     * @return the config's builder
     */
    public static LlamaConfig.Builder qwen2Config(int vocab, int layers) {
        return LlamaConfig.builder()
                .modelType("qwen2")
                .vocabSize(vocab)
                .hiddenSize(32)
                .intermediateSize(48)
                .numHiddenLayers(layers)
                .numAttentionHeads(4)
                .numKeyValueHeads(2)
                .qkvBias(true)
                .tieWordEmbeddings(true)
                .maxPositionEmbeddings(64)
                .initializerRange(0.2);
    }

    /**
     * Initializes {@code block} for float32 token ids with DJL's own initializers, the engine's
     * random seed set first, so its weights depend only on {@code engineSeed}.
     *
     * @param block the model to initialize
     * @param manager owns the weights
     * @param engineSeed the engine seed set before initializing
     * @param <B> the model type
     * @return block
     */
    public static <B extends Block> B initialized(B block, NDManager manager, int engineSeed) {
        Engine.getInstance().setRandomSeed(engineSeed);
        block.initialize(manager, DataType.FLOAT32, new Shape(1, 4));
        return block;
    }

    /**
     * Initializes {@code block}, then overwrites every weight from {@code seed} (see {@link
     * #fill}), so its weights depend only on {@code seed}, not on the engine's random state.
     *
     * @param block the model to initialize
     * @param manager owns the weights
     * @param seed the weights' seed
     * @param <B> the model type
     * @return block
     */
    public static <B extends Block> B seeded(B block, NDManager manager, long seed) {
        block.initialize(manager, DataType.FLOAT32, new Shape(1, 4));
        fill(block, seed);
        return block;
    }

    /**
     * Overwrites every parameter of {@code block} from {@code seed}: matrices N(0, 0.3); vectors
     * (norms, biases) keep their value plus N(0, 0.05), so norms stay near 1.
     *
     * @param block an initialized block
     * @param seed the values' seed
     */
    public static void fill(Block block, long seed) {
        Random random = new Random(seed);
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray a = p.getValue().getArray();
            float[] v = a.toFloatArray();
            boolean matrix = a.getShape().dimension() >= 2;
            double std = matrix ? 0.3 : 0.05;
            for (int i = 0; i < v.length; i++) {
                v[i] = (matrix ? 0 : v[i]) + (float) (random.nextGaussian() * std);
            }
            a.set(v);
        }
    }

    /**
     * Random token ids.
     *
     * @param manager owns the array
     * @param seed the ids' seed
     * @param batch rows
     * @param len tokens per row
     * @param vocab ids are in [0, vocab)
     * @return int64 ids of shape (batch, len)
     */
    public static NDArray ids(NDManager manager, long seed, int batch, int len, int vocab) {
        Random random = new Random(seed);
        long[] ids = new long[batch * len];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = random.nextInt(vocab);
        }
        return manager.create(ids, new Shape(batch, len));
    }

    /**
     * Writes a tiny BERT (BertModel, no pooler) with a [CLS]/[SEP] word-level tokenizer.
     *
     * @param dir the folder to create
     * @return dir
     */
    public static Path bert(Path dir) throws IOException {
        Files.createDirectories(dir);
        writeTokenizer(dir, "[PAD]", "[UNK]", "[CLS]", "[SEP]", true);
        BertConfig config =
                BertConfig.builder()
                        .vocabSize(4 + WORDS.size())
                        .hiddenSize(16)
                        .numHiddenLayers(2)
                        .numAttentionHeads(2)
                        .intermediateSize(32)
                        .maxPositionEmbeddings(64)
                        .addPoolingLayer(false)
                        .initializerRange(0.2)
                        .build();
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Engine.getInstance().setRandomSeed(3);
            BertModel model = new BertModel(config);
            model.initialize(m, DataType.FLOAT32, new Shape(1, 4));
            HfCheckpoint.save(model, dir);
        }
        return dir;
    }

    /**
     * Writes a tiny LLaMA with a BOS-adding word-level tokenizer (pad 0, unk 1, BOS 2, EOS 3).
     *
     * @param dir the folder to create
     * @return dir
     */
    public static Path llama(Path dir) throws IOException {
        Files.createDirectories(dir);
        writeTokenizer(dir, "<pad>", "<unk>", "<s>", "</s>", false);
        LlamaConfig config =
                LlamaConfig.builder()
                        .modelType("llama")
                        .vocabSize(4 + WORDS.size())
                        .hiddenSize(16)
                        .intermediateSize(32)
                        .numHiddenLayers(2)
                        .numAttentionHeads(2)
                        .numKeyValueHeads(1)
                        .rmsNormEps(1e-5)
                        .tieWordEmbeddings(true)
                        .bosTokenId(2)
                        .eosTokenIds(List.of(3))
                        .padTokenId(0)
                        .maxPositionEmbeddings(128)
                        .initializerRange(0.2)
                        .build();
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Engine.getInstance().setRandomSeed(4);
            LlamaForCausalLM model = new LlamaForCausalLM(config);
            model.initialize(m, DataType.FLOAT32, new Shape(1, 4));
            HfCheckpoint.save(model, dir);
        }
        return dir;
    }

    private static void writeTokenizer(
            Path dir, String pad, String unk, String first, String second, boolean bertStyle)
            throws IOException {
        List<String> specials = List.of(pad, unk, first, second);
        JsonObject vocab = new JsonObject();
        JsonArray added = new JsonArray();
        List<String> all = new ArrayList<>(specials);
        all.addAll(WORDS);
        for (int i = 0; i < all.size(); i++) {
            vocab.addProperty(all.get(i), i);
        }
        for (int i = 0; i < specials.size(); i++) {
            JsonObject t = new JsonObject();
            t.addProperty("id", i);
            t.addProperty("content", specials.get(i));
            t.addProperty("single_word", false);
            t.addProperty("lstrip", false);
            t.addProperty("rstrip", false);
            t.addProperty("normalized", false);
            t.addProperty("special", true);
            added.add(t);
        }
        JsonObject model = new JsonObject();
        model.addProperty("type", "WordLevel");
        model.add("vocab", vocab);
        model.addProperty("unk_token", unk);
        JsonObject post = new JsonObject();
        post.addProperty("type", "TemplateProcessing");
        JsonArray single = new JsonArray();
        single.add(special(first));
        single.add(sequence());
        if (bertStyle) {
            single.add(special(second));
        }
        post.add("single", single);
        post.add("pair", single.deepCopy());
        JsonObject specialTokens = new JsonObject();
        for (String s : bertStyle ? List.of(first, second) : List.of(first)) {
            JsonObject st = new JsonObject();
            st.addProperty("id", s);
            JsonArray ids = new JsonArray();
            ids.add(specials.indexOf(s));
            st.add("ids", ids);
            JsonArray tokens = new JsonArray();
            tokens.add(s);
            st.add("tokens", tokens);
            specialTokens.add(s, st);
        }
        post.add("special_tokens", specialTokens);
        JsonObject normalizer = new JsonObject();
        normalizer.addProperty("type", "Lowercase");
        JsonObject preTokenizer = new JsonObject();
        preTokenizer.addProperty("type", "Whitespace");
        JsonObject root = new JsonObject();
        root.addProperty("version", "1.0");
        root.add("truncation", null);
        root.add("padding", null);
        root.add("added_tokens", added);
        root.add("normalizer", normalizer);
        root.add("pre_tokenizer", preTokenizer);
        root.add("post_processor", post);
        root.add("decoder", null);
        root.add("model", model);
        Files.writeString(dir.resolve("tokenizer.json"), root.toString(), StandardCharsets.UTF_8);
    }

    private static JsonObject special(String id) {
        JsonObject inner = new JsonObject();
        inner.addProperty("id", id);
        inner.addProperty("type_id", 0);
        JsonObject o = new JsonObject();
        o.add("SpecialToken", inner);
        return o;
    }

    private static JsonObject sequence() {
        JsonObject inner = new JsonObject();
        inner.addProperty("id", "A");
        inner.addProperty("type_id", 0);
        JsonObject o = new JsonObject();
        o.add("Sequence", inner);
        return o;
    }
}
