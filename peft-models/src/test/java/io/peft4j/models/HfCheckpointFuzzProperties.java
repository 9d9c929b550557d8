package io.peft4j.models;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.io.SafetensorsWriter;
import io.peft4j.models.FuzzSupport.ByteKind;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Fuzzes Hugging Face checkpoint folders built at run time from tiny random models: mutated {@code
 * config.json}, {@code model.safetensors} and {@code model.safetensors.index.json}. Every try
 * either loads or fails with {@link CheckpointException}, {@link IllegalArgumentException} or
 * {@link UncheckedIOException} (wrapping an IOException) whose message names the folder; never
 * another exception, an {@link OutOfMemoryError} or a hang. A config that implies more weights than
 * the checkpoint holds is refused before anything is allocated, and an index naming a shard outside
 * the folder is refused. 1,000 cases per property ({@code jqwik.tries.default} in
 * src/test/resources/junit-platform.properties; {@code -Djqwik.tries.default=10000} for more).
 */
class HfCheckpointFuzzProperties {

    private static final String CONFIG = "config.json";
    private static final String SINGLE = "model.safetensors";
    private static final String INDEX = "model.safetensors.index.json";
    private static final String SHARD1 = "model-00001-of-00002.safetensors";
    private static final String SHARD2 = "model-00002-of-00002.safetensors";

    private static Path root;

    /** Valid folders as file name -> bytes: 0 llama, 1 bert, 2 sharded llama. */
    private static final List<Map<String, byte[]>> BASES = new ArrayList<>();

    private static final AtomicInteger COUNTER = new AtomicInteger();

    @BeforeContainer
    static void makeCheckpoints() throws IOException {
        root = Files.createTempDirectory("hf-fuzz");
        try (NDManager manager = NDManager.newBaseManager()) {
            LlamaForCausalLM llama =
                    TestSupport.init(
                            new LlamaForCausalLM(TestSupport.tinyLlama("llama", 4, 2, false)),
                            manager);
            BASES.add(save(llama, root.resolve("llama")));
            BertConfig bertConfig =
                    BertConfig.builder()
                            .vocabSize(20)
                            .hiddenSize(8)
                            .numHiddenLayers(1)
                            .numAttentionHeads(2)
                            .intermediateSize(12)
                            .maxPositionEmbeddings(10)
                            .typeVocabSize(2)
                            .build();
            BASES.add(
                    save(
                            TestSupport.init(new BertModel(bertConfig), manager),
                            root.resolve("bert")));
            Map<String, byte[]> sharded = new LinkedHashMap<>();
            sharded.put(CONFIG, BASES.get(0).get(CONFIG));
            Map<String, NDArray> first = new TreeMap<>();
            Map<String, NDArray> second = new TreeMap<>();
            JsonObject weightMap = new JsonObject();
            int i = 0;
            for (Map.Entry<String, ai.djl.nn.Parameter> e :
                    new TreeMap<>(llama.namedParameters()).entrySet()) {
                boolean one = i++ % 2 == 0;
                (one ? first : second).put(e.getKey(), e.getValue().getArray());
                weightMap.addProperty(e.getKey(), one ? SHARD1 : SHARD2);
            }
            JsonObject index = new JsonObject();
            index.add("metadata", new JsonObject());
            index.add("weight_map", weightMap);
            Path shards = Files.createDirectories(root.resolve("sharded"));
            SafetensorsWriter.write(shards.resolve(SHARD1), first, Map.of());
            SafetensorsWriter.write(shards.resolve(SHARD2), second, Map.of());
            sharded.put(INDEX, FuzzSupport.utf8(index.toString()));
            sharded.put(SHARD1, Files.readAllBytes(shards.resolve(SHARD1)));
            sharded.put(SHARD2, Files.readAllBytes(shards.resolve(SHARD2)));
            BASES.add(sharded);
            // A valid shard outside every try folder: an index that reaches it must still be
            // refused.
            Files.write(root.resolve(SHARD1), sharded.get(SHARD1));
        }
        // The unmutated folders load (the properties would prove little otherwise).
        for (int b = 0; b < BASES.size(); b++) {
            Path dir = writeFolder(BASES.get(b));
            try (Model m = HfCheckpoint.load(dir, Device.cpu())) {
                assertNotNull(m.getBlock());
            } finally {
                FuzzSupport.deleteTree(dir);
            }
        }
    }

    private static Map<String, byte[]> save(ai.djl.nn.Block model, Path dir) throws IOException {
        HfCheckpoint.save(model, dir);
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put(CONFIG, Files.readAllBytes(dir.resolve(CONFIG)));
        files.put(SINGLE, Files.readAllBytes(dir.resolve(SINGLE)));
        return files;
    }

    @AfterContainer
    static void cleanUp() throws IOException {
        FuzzSupport.deleteTree(root);
    }

    private static Path writeFolder(Map<String, byte[]> files) throws IOException {
        Path dir = Files.createDirectories(root.resolve("try-" + COUNTER.incrementAndGet()));
        for (Map.Entry<String, byte[]> f : files.entrySet()) {
            if (f.getValue() != null) {
                Files.write(dir.resolve(f.getKey()), f.getValue());
            }
        }
        return dir;
    }

    // ---- config.json ----

    /** Kinds of config.json corruption. */
    enum ConfigKind {
        BYTES,
        SET_FIELD,
        ADD_FIELD,
        REMOVE_FIELD,
        HUGE_MODEL,
        DEEP
    }

    /** Fields that are not in every config but that the readers look at. */
    private static final String[] EXTRA_FIELDS = {
        "rope_scaling",
        "architectures",
        "id2label",
        "head_dim",
        "num_key_value_heads",
        "tie_word_embeddings",
        "model_type",
        "eos_token_id",
        "sliding_window",
        "use_sliding_window",
        "partial_rotary_factor",
        "hidden_act",
        "num_labels",
        "position_embedding_type",
        "attention_bias",
        "rope_theta"
    };

    /** One config.json corruption of base {@code base}; the ints pick fields, values and bytes. */
    record ConfigMutation(
            int base, ConfigKind kind, ByteKind byteKind, double where, int pick, int value) {
        byte[] apply(byte[] valid) {
            if (kind == ConfigKind.BYTES) {
                return FuzzSupport.corrupt(valid, byteKind, where, value);
            }
            JsonObject o =
                    JsonParser.parseString(new String(valid, StandardCharsets.UTF_8))
                            .getAsJsonObject();
            List<String> keys = new ArrayList<>(o.keySet());
            String nasty =
                    FuzzSupport.NASTY_VALUES[Math.floorMod(value, FuzzSupport.NASTY_VALUES.length)];
            switch (kind) {
                case SET_FIELD:
                    return withRaw(o, keys.get(Math.floorMod(pick, keys.size())), nasty);
                case ADD_FIELD:
                    {
                        String key = EXTRA_FIELDS[Math.floorMod(pick, EXTRA_FIELDS.length)];
                        String[] special = {
                            "{\"type\": \"linear\", \"factor\": " + nasty + "}",
                            "{\"rope_type\": " + nasty + "}",
                            "[" + nasty + "]",
                            "{\"0\": " + nasty + "}",
                            "\"bert\"",
                            "\"llama\"",
                            "\"gpt2\"",
                            "[\"BertForSequenceClassification\"]"
                        };
                        return withRaw(
                                o,
                                key,
                                value % 3 == 0
                                        ? special[Math.floorMod(value / 3, special.length)]
                                        : nasty);
                    }
                case REMOVE_FIELD:
                    o.remove(keys.get(Math.floorMod(pick, keys.size())));
                    return FuzzSupport.utf8(o.toString());
                case HUGE_MODEL:
                    {
                        String[] big = {
                            "1000000000",
                            "1000000000000",
                            "99999999999",
                            "2147483647",
                            "65536",
                            "1048576"
                        };
                        String[] dims = {
                            "hidden_size",
                            "vocab_size",
                            "intermediate_size",
                            "num_hidden_layers",
                            "head_dim",
                            "max_position_embeddings",
                            "type_vocab_size",
                            "num_attention_heads"
                        };
                        String key = dims[Math.floorMod(pick, dims.length)];
                        o.remove(key);
                        byte[] once = withRaw(o, key, big[Math.floorMod(value, big.length)]);
                        if (value % 2 == 0) {
                            return once;
                        }
                        JsonObject again =
                                JsonParser.parseString(new String(once, StandardCharsets.UTF_8))
                                        .getAsJsonObject();
                        String other = dims[Math.floorMod(pick + 1 + value, dims.length)];
                        return withRaw(again, other, big[Math.floorMod(value / 2, big.length)]);
                    }
                case DEEP:
                    return FuzzSupport.utf8(
                            "{\"model_type\": \"llama\", \"x\": "
                                    + "[".repeat(200 + pick % 5000)
                                    + "]".repeat(200 + pick % 5000)
                                    + "}");
                default:
                    throw new AssertionError(kind);
            }
        }

        private static byte[] withRaw(JsonObject o, String key, String raw) {
            o.addProperty(key, "@@RAW@@");
            return FuzzSupport.utf8(o.toString().replace("\"@@RAW@@\"", raw));
        }
    }

    @Provide
    Arbitrary<ConfigMutation> configMutations() {
        return Combinators.combine(
                        Arbitraries.integers().between(0, 2),
                        Arbitraries.of(ConfigKind.class),
                        Arbitraries.of(ByteKind.class),
                        Arbitraries.doubles().between(0, 1),
                        Arbitraries.integers().between(0, 100_000),
                        Arbitraries.integers().between(0, 1_000_000))
                .as(ConfigMutation::new);
    }

    @Property
    void mutatedConfigJsonLoadsOrFailsCleanly(@ForAll("configMutations") ConfigMutation m)
            throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>(BASES.get(m.base()));
        files.put(CONFIG, m.apply(files.get(CONFIG)));
        Path dir = writeFolder(files);
        try {
            Path config = dir.resolve(CONFIG);
            FuzzSupport.check(
                    m,
                    config.toString(),
                    () -> {
                        if (m.base() == 1) {
                            BertConfig.fromJson(config);
                        } else {
                            LlamaConfig.fromJson(config);
                        }
                    },
                    IllegalArgumentException.class,
                    UncheckedIOException.class);
            FuzzSupport.check(
                    m,
                    dir.toString(),
                    () -> {
                        if (m.base() == 1 && m.value() % 2 == 1) {
                            HfCheckpoint.loadForSequenceClassification(dir, 3, Device.cpu())
                                    .close();
                        } else {
                            HfCheckpoint.load(dir, Device.cpu()).close();
                        }
                    },
                    CheckpointException.class,
                    IllegalArgumentException.class,
                    UncheckedIOException.class);
        } finally {
            FuzzSupport.deleteTree(dir);
        }
    }

    // ---- model.safetensors and the index ----

    /** Kinds of weight-file corruption. */
    enum WeightKind {
        BYTES,
        HEADER_LENGTH,
        DTYPE,
        SHAPE,
        OFFSETS,
        INDEX_SHARD_NAME,
        INDEX_VALUE,
        INDEX_STRUCTURE,
        DROP_FILE
    }

    /** Shard names that point outside the folder or are not file names. */
    private static final String[] ESCAPING_NAMES = {
        "../" + SHARD1,
        "./../" + SHARD1,
        "sub/../../" + SHARD1,
        "..\\" + SHARD1,
        "%ABS%",
        "/dev/zero",
        "/proc/self/mem",
        "/etc/passwd",
        ".",
        "..",
        "",
        "/",
        "sub/" + SHARD1,
        "./" + SHARD1,
        SHARD1 + "/",
        "nul\u0000.safetensors",
        "~/" + SHARD1
    };

    private static final Pattern HEADER_FIELD =
            Pattern.compile("\"(dtype|shape|data_offsets)\":(\"[A-Z0-9]+\"|\\[[0-9,]*\\])");

    /** One corruption of a weight file of base {@code base}. */
    record WeightMutation(
            int base, WeightKind kind, ByteKind byteKind, double where, int pick, long value) {

        /**
         * @return the mutated folder contents (a null value drops the file)
         */
        Map<String, byte[]> apply(Map<String, byte[]> valid) {
            Map<String, byte[]> files = new LinkedHashMap<>(valid);
            boolean sharded = files.containsKey(INDEX);
            String target = sharded ? (pick % 2 == 0 ? SHARD1 : SHARD2) : SINGLE;
            switch (kind) {
                case BYTES:
                    if (sharded && pick % 3 == 2) {
                        target = INDEX;
                    }
                    files.put(
                            target,
                            FuzzSupport.corrupt(files.get(target), byteKind, where, (int) value));
                    return files;
                case HEADER_LENGTH:
                    {
                        byte[] b = files.get(target).clone();
                        long[] lengths = {
                            value,
                            -1,
                            Long.MIN_VALUE,
                            Long.MAX_VALUE,
                            1L << 31,
                            1L << 32,
                            100_000_000L,
                            b.length,
                            b.length - 8L,
                            0,
                            2
                        };
                        ByteBuffer.wrap(b)
                                .order(ByteOrder.LITTLE_ENDIAN)
                                .putLong(0, lengths[Math.floorMod(pick, lengths.length)]);
                        files.put(target, b);
                        return files;
                    }
                case DTYPE:
                case SHAPE:
                case OFFSETS:
                    files.put(target, editHeader(files.get(target)));
                    return files;
                case INDEX_SHARD_NAME:
                case INDEX_VALUE:
                case INDEX_STRUCTURE:
                    if (!sharded) {
                        files.put(INDEX, files.remove(SINGLE) == null ? null : indexFor(valid));
                        files.put(SHARD1, valid.get(SINGLE));
                    }
                    files.put(INDEX, editIndex(files.get(INDEX)));
                    return files;
                case DROP_FILE:
                    {
                        List<String> names = new ArrayList<>(files.keySet());
                        names.remove(CONFIG);
                        files.put(names.get(Math.floorMod(pick, names.size())), null);
                        return files;
                    }
                default:
                    throw new AssertionError(kind);
            }
        }

        /** An index mapping every tensor of a single-file checkpoint to SHARD1. */
        private static byte[] indexFor(Map<String, byte[]> valid) {
            byte[] st = valid.get(SINGLE);
            long n = ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            JsonObject header =
                    JsonParser.parseString(new String(st, 8, (int) n, StandardCharsets.UTF_8))
                            .getAsJsonObject();
            JsonObject map = new JsonObject();
            header.keySet().stream()
                    .filter(k -> !k.equals("__metadata__"))
                    .forEach(k -> map.addProperty(k, SHARD1));
            JsonObject index = new JsonObject();
            index.add("weight_map", map);
            return FuzzSupport.utf8(index.toString());
        }

        private byte[] editHeader(byte[] file) {
            ByteBuffer bb = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
            int n = (int) bb.getLong(0);
            String header = new String(file, 8, n, StandardCharsets.UTF_8);
            String field =
                    kind == WeightKind.DTYPE
                            ? "dtype"
                            : kind == WeightKind.SHAPE ? "shape" : "data_offsets";
            List<int[]> spans = new ArrayList<>();
            Matcher matcher = HEADER_FIELD.matcher(header);
            while (matcher.find()) {
                if (matcher.group(1).equals(field)) {
                    spans.add(new int[] {matcher.start(2), matcher.end(2)});
                }
            }
            int[] span = spans.get(Math.floorMod(pick, spans.size()));
            String replacement;
            long v = value;
            switch (kind) {
                case DTYPE:
                    {
                        String[] dtypes = {
                            "\"F16\"",
                            "\"BF16\"",
                            "\"F64\"",
                            "\"I32\"",
                            "\"I64\"",
                            "\"U8\"",
                            "\"BOOL\"",
                            "\"I8\"",
                            "\"F8_E4M3\"",
                            "\"XX\"",
                            "\"\"",
                            "1",
                            "null",
                            "[\"F32\"]"
                        };
                        replacement = dtypes[Math.floorMod(v, dtypes.length)];
                        break;
                    }
                case SHAPE:
                    {
                        String[] shapes = {
                            "[]",
                            "[0]",
                            "[1]",
                            "[-1]",
                            "[37000000000,16]",
                            "[1000000000,1000000000]",
                            "[4611686018427387904,4]",
                            "[9223372036854775807]",
                            "[16,37]",
                            "[2,2,2]",
                            "[" + Math.abs(v % 100) + "," + Math.abs((v / 100) % 100) + "]",
                            "[1.5]",
                            "[\"16\"]",
                            "null",
                            "{}"
                        };
                        replacement = shapes[Math.floorMod(v, shapes.length)];
                        break;
                    }
                default:
                    {
                        String[] offsets = {
                            "[0,0]",
                            "[0,64]",
                            "[64,0]",
                            "[-8,56]",
                            "[0,9223372036854775807]",
                            "[9223372036854775807,9223372036854775807]",
                            "[0,4,8]",
                            "[0]",
                            "[]",
                            "[" + Math.abs(v % 5000) + "," + Math.abs((v / 5000) % 5000) + "]",
                            "[0.5,64]",
                            "null"
                        };
                        replacement = offsets[Math.floorMod(v, offsets.length)];
                    }
            }
            String edited = header.substring(0, span[0]) + replacement + header.substring(span[1]);
            byte[] h = FuzzSupport.utf8(edited);
            ByteBuffer out =
                    ByteBuffer.allocate(8 + h.length + file.length - 8 - n)
                            .order(ByteOrder.LITTLE_ENDIAN);
            out.putLong(h.length).put(h).put(file, 8 + n, file.length - 8 - n);
            return out.array();
        }

        private byte[] editIndex(byte[] index) {
            JsonObject o =
                    JsonParser.parseString(new String(index, StandardCharsets.UTF_8))
                            .getAsJsonObject();
            JsonObject map = o.getAsJsonObject("weight_map");
            List<String> keys = new ArrayList<>(map.keySet());
            String key = keys.get(Math.floorMod(pick, keys.size()));
            switch (kind) {
                case INDEX_SHARD_NAME:
                    {
                        String name =
                                ESCAPING_NAMES[Math.floorMod(value, ESCAPING_NAMES.length)].replace(
                                        "%ABS%", root.resolve(SHARD1).toAbsolutePath().toString());
                        if (value % 2 == 0) {
                            keys.forEach(
                                    k -> map.addProperty(k, name)); // every tensor: it would load
                        } else {
                            map.addProperty(key, name);
                        }
                        return FuzzSupport.utf8(o.toString());
                    }
                case INDEX_VALUE:
                    {
                        String raw =
                                FuzzSupport.NASTY_VALUES[
                                        Math.floorMod(value, FuzzSupport.NASTY_VALUES.length)];
                        map.addProperty(key, "@@RAW@@");
                        return FuzzSupport.utf8(o.toString().replace("\"@@RAW@@\"", raw));
                    }
                default:
                    {
                        String raw =
                                FuzzSupport.NASTY_VALUES[
                                        Math.floorMod(value, FuzzSupport.NASTY_VALUES.length)];
                        switch ((int) Math.floorMod(value / 7, 5)) {
                            case 0:
                                o.remove("weight_map");
                                break;
                            case 1:
                                o.addProperty("weight_map", "@@RAW@@");
                                return FuzzSupport.utf8(o.toString().replace("\"@@RAW@@\"", raw));
                            case 2:
                                map.remove(key);
                                break;
                            case 3:
                                map.add(key + ".extra", map.get(key));
                                break;
                            default:
                                return FuzzSupport.utf8(raw);
                        }
                        return FuzzSupport.utf8(o.toString());
                    }
            }
        }
    }

    @Provide
    Arbitrary<WeightMutation> weightMutations() {
        Arbitrary<Long> values =
                Arbitraries.oneOf(Arbitraries.longs().between(0, 1_000_000), Arbitraries.longs());
        return Combinators.combine(
                        Arbitraries.integers().between(0, 2),
                        Arbitraries.of(WeightKind.class),
                        Arbitraries.of(ByteKind.class),
                        Arbitraries.doubles().between(0, 1),
                        Arbitraries.integers().between(0, 100_000),
                        values)
                .as(WeightMutation::new);
    }

    @Property
    void mutatedWeightFilesLoadOrFailCleanly(@ForAll("weightMutations") WeightMutation m)
            throws IOException {
        Map<String, byte[]> files = m.apply(BASES.get(m.base()));
        Path dir = writeFolder(files);
        try {
            RuntimeException e =
                    FuzzSupport.check(
                            m,
                            dir.toString(),
                            () -> {
                                if (m.base() == 1 && m.value() % 2 == 1) {
                                    HfCheckpoint.loadForSequenceClassification(dir, 3, Device.cpu())
                                            .close();
                                } else {
                                    HfCheckpoint.load(dir, Device.cpu()).close();
                                }
                            },
                            CheckpointException.class,
                            IllegalArgumentException.class,
                            UncheckedIOException.class);
            if (m.kind() == WeightKind.INDEX_SHARD_NAME) {
                // None of these is a plain file name in the folder; some reach a valid shard
                // outside it.
                assertTrue(
                        e != null,
                        "an index naming a file outside the folder must be refused: " + m);
            }
        } finally {
            FuzzSupport.deleteTree(dir);
        }
    }

    // ---- the inputs that found bugs, kept as examples ----

    private static IllegalArgumentException refusal(int base, String file, String from, String to)
            throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>(BASES.get(base));
        String text = new String(files.get(file), StandardCharsets.UTF_8);
        assertTrue(text.contains(from), from);
        files.put(file, FuzzSupport.utf8(text.replace(from, to)));
        Path dir = writeFolder(files);
        try {
            RuntimeException e =
                    FuzzSupport.check(
                            from + " -> " + to,
                            dir.toString(),
                            () -> HfCheckpoint.load(dir, Device.cpu()).close(),
                            IllegalArgumentException.class);
            assertNotNull(e, "must be refused: " + to);
            return (IllegalArgumentException) e;
        } finally {
            FuzzSupport.deleteTree(dir);
        }
    }

    @Example
    void hugeModelsAreRefusedBeforeAnythingIsAllocated() throws IOException {
        String[][] edits = {
            {"\"hidden_size\": 16", "\"hidden_size\": 1000000000"},
            {"\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1000000000"},
            {"\"intermediate_size\": 24", "\"intermediate_size\": 2000000000"},
            {"\"head_dim\": 4", "\"head_dim\": 1000000000"}
        };
        for (String[] edit : edits) {
            String message = refusal(0, CONFIG, edit[0], edit[1]).getMessage();
            assertTrue(message.contains("describes a model of at least"), message);
        }
        String message =
                refusal(1, CONFIG, "\"vocab_size\": 20", "\"vocab_size\": 2000000000").getMessage();
        assertTrue(message.contains("describes a model of at least"), message);
        // 10^12 used to be truncated by Gson's getAsInt to an int that looked plausible
        message =
                refusal(0, CONFIG, "\"vocab_size\": 37", "\"vocab_size\": 1000000000000")
                        .getMessage();
        assertTrue(message.contains("\"vocab_size\" must be an integer in int range"), message);
    }

    @Example
    void fieldsOfTheWrongTypeAreRefusedNamingTheFile() throws IOException {
        refusal(0, CONFIG, "\"architectures\": [", "\"architectures\": 1, \"x\": [");
        refusal(
                0,
                CONFIG,
                "\"model_type\": \"llama\"",
                "\"model_type\": \"llama\", \"rope_scaling\": 1");
        refusal(
                1,
                CONFIG,
                "\"model_type\": \"bert\"",
                "\"model_type\": \"bert\", \"id2label\": []");
        refusal(0, CONFIG, "\"hidden_size\": 16", "\"hidden_size\": -16");
    }

    @Example
    void shardsOutsideTheFolderAreRefused() throws IOException {
        String message =
                refusal(2, INDEX, "\"" + SHARD1 + "\"", "\"../" + SHARD1 + "\"").getMessage();
        assertTrue(message.contains("not a file name in the checkpoint folder"), message);
        refusal(2, INDEX, "\"" + SHARD1 + "\"", "\"/proc/self/mem\"");
        refusal(
                2,
                INDEX,
                "\"" + SHARD1 + "\"",
                new com.google.gson.JsonPrimitive(root.resolve(SHARD1).toAbsolutePath().toString())
                        .toString());
    }
}
