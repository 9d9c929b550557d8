package io.peft4j.testing;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
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

/**
 * Tiny random models with a word-level tokenizer, written as Hugging Face folders, for fast tests.
 */
public final class TinyModels {

    /** The words the tiny tokenizers know (ids after the 4 special tokens). */
    public static final List<String> WORDS =
            List.of(
                    "the", "a", "film", "movie", "story", "was", "is", "good", "great", "fine",
                    "bad", "awful", "dull", "very", "not", "and", "i", "liked", "hated", "it",
                    "cat", "sat", "on", "mat", "dog", "ran", ".", ",");

    private TinyModels() {}

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
