package io.peft4j.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import io.peft4j.models.FuzzSupport.ByteKind;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
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
 * Fuzzes the ONNX reader ({@link OnnxModelReader}, {@link OnnxImport}) with mutations of a small
 * BERT export written at run time the way torch.onnx.export lays it out (named embeddings and
 * biases, anonymous transposed MatMul weights, an int64 buffer): truncation, bit flips, lengths
 * that claim gigabytes, wrong data types, data sizes that disagree with dims, broken graphs. Every
 * try either reads or fails with an {@link IllegalArgumentException} (or {@link
 * UncheckedIOException}, or {@link CheckpointException} when loading into a model) naming the file;
 * nothing larger than the data the file holds is allocated. 1,000 cases ({@code
 * -Djqwik.tries.default=10000} for more).
 */
class OnnxFuzzProperties {

    private static final BertConfig CONFIG =
            BertConfig.builder()
                    .vocabSize(20)
                    .hiddenSize(8)
                    .numHiddenLayers(1)
                    .numAttentionHeads(2)
                    .intermediateSize(12)
                    .maxPositionEmbeddings(10)
                    .typeVocabSize(2)
                    .build();

    private static Path dir;

    /** Tensors by Hugging Face name, as float arrays, and their shapes. */
    private static final Map<String, float[]> VALUES = new TreeMap<>();

    private static final Map<String, long[]> SHAPES = new TreeMap<>();
    private static final AtomicInteger COUNTER = new AtomicInteger();

    @BeforeContainer
    static void makeModel() throws IOException {
        dir = Files.createTempDirectory("onnx-fuzz");
        try (NDManager manager = NDManager.newBaseManager()) {
            BertModel model = TestSupport.init(new BertModel(CONFIG), manager);
            for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
                NDArray a = e.getValue().getArray();
                VALUES.put(e.getKey(), a.toFloatArray());
                SHAPES.put(e.getKey(), a.getShape().getShape());
            }
        }
        Path valid = dir.resolve("valid.onnx");
        Files.write(valid, new Mutation(Kind.NONE, ByteKind.TRUNCATE, 0, 0, 0).build());
        try (NDManager manager = NDManager.newBaseManager()) {
            Map<String, NDArray> read = OnnxImport.readBertWeights(valid, manager);
            for (Map.Entry<String, float[]> e : VALUES.entrySet()) {
                assertNotNull(read.get(e.getKey()), e.getKey());
                assertEquals(
                        0.0,
                        TestSupport.maxAbsDiff(
                                read.get(e.getKey()),
                                manager.create(
                                        e.getValue(),
                                        new ai.djl.ndarray.types.Shape(SHAPES.get(e.getKey())))),
                        e.getKey());
            }
        }
        try (Model m = OnnxImport.loadBert(valid, CONFIG, Device.cpu())) {
            assertNotNull(m.getBlock());
        }
    }

    @AfterContainer
    static void cleanUp() throws IOException {
        FuzzSupport.deleteTree(dir);
    }

    /** Kinds of corruption. */
    enum Kind {
        NONE,
        BYTES,
        DIMS,
        DATA_TYPE,
        DATA_SIZE,
        TYPED_FIELD,
        EXTERNAL,
        LIE_LENGTH,
        IR_VERSION,
        GRAPH
    }

    static final long[][] NASTY_DIMS = {
        {1_000_000_000_000L},
        {1L << 62, 4},
        {-1},
        {-1, -8},
        {0},
        {},
        {Integer.MAX_VALUE},
        {3, 1L << 61},
        {Long.MAX_VALUE},
        {1L << 31, 1L << 31},
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {65536, 65536},
        {8, 8},
        {1},
        {2, -2}
    };

    static final long[] NASTY_TYPES = {
        0, 2, 3, 6, 7, 9, 10, 11, 16, 17, 99, -1, Integer.MAX_VALUE, 1L << 40
    };

    static final long[] LENGTHS = {
        Integer.MAX_VALUE, 1L << 31, 1L << 32, 4_000_000_000L, Long.MAX_VALUE, -1, 0
    };

    /**
     * One mutation; {@code pick} chooses the initializer, node or field, {@code value} the nasty
     * value and the random bytes.
     */
    record Mutation(Kind kind, ByteKind byteKind, double where, int pick, long value) {

        byte[] build() {
            List<String> names = new ArrayList<>(VALUES.keySet());
            int target = Math.floorMod(pick, names.size() + 1); // == size: the int64 position_ids
            ByteArrayOutputStream graph = new ByteArrayOutputStream();
            int anonymous = 0;
            for (int i = 0; i <= names.size(); i++) {
                boolean mutate =
                        i == target
                                && kind != Kind.NONE
                                && kind != Kind.BYTES
                                && kind != Kind.IR_VERSION
                                && kind != Kind.GRAPH;
                if (i == names.size()) {
                    ByteArrayOutputStream ids = new ByteArrayOutputStream();
                    for (int p = 0; p < CONFIG.maxPositionEmbeddings(); p++) {
                        varint(ids, p);
                    }
                    bytesField(
                            graph,
                            5,
                            tensor(
                                    "embeddings.position_ids",
                                    new long[] {1, CONFIG.maxPositionEmbeddings()},
                                    OnnxModelReader.INT64,
                                    7,
                                    ids.toByteArray(),
                                    mutate));
                    continue;
                }
                String name = names.get(i);
                long[] shape = SHAPES.get(name);
                float[] v = VALUES.get(name);
                boolean linear =
                        name.endsWith(".weight")
                                && shape.length == 2
                                && !name.contains("embeddings")
                                && VALUES.containsKey(
                                        name.substring(0, name.length() - 6) + "bias");
                if (linear) {
                    // stored transposed (in, out) under an anonymous name, named through MatMul ->
                    // Add
                    long out = shape[0];
                    long in = shape[1];
                    float[] t = new float[v.length];
                    for (int r = 0; r < out; r++) {
                        for (int c = 0; c < in; c++) {
                            t[c * (int) out + r] = v[r * (int) in + c];
                        }
                    }
                    String anon = "onnx::MatMul_" + (100 + anonymous++);
                    bytesField(
                            graph,
                            5,
                            tensor(
                                    anon,
                                    new long[] {in, out},
                                    OnnxModelReader.FLOAT,
                                    9,
                                    floats(t),
                                    mutate));
                    String bias = name.substring(0, name.length() - 6) + "bias";
                    String mm = "/" + name + "/MatMul_output_0";
                    bytesField(
                            graph,
                            1,
                            node(
                                    "/" + name + "/MatMul",
                                    "MatMul",
                                    new String[] {"x" + i, anon},
                                    new String[] {mm}));
                    bytesField(
                            graph,
                            1,
                            node(
                                    "/" + name + "/Add",
                                    "Add",
                                    new String[] {bias, mm},
                                    new String[] {"/" + name + "/Add_output_0"}));
                } else if (name.contains("LayerNorm.weight")) {
                    // packed float_data instead of raw_data, as some exporters write small tensors
                    bytesField(
                            graph,
                            5,
                            tensor(name, shape, OnnxModelReader.FLOAT, 4, floats(v), mutate));
                } else {
                    bytesField(
                            graph,
                            5,
                            tensor(name, shape, OnnxModelReader.FLOAT, 9, floats(v), mutate));
                }
            }
            if (kind == Kind.GRAPH) {
                mutateGraph(graph);
            }
            ByteArrayOutputStream model = new ByteArrayOutputStream();
            if (kind == Kind.IR_VERSION) {
                long[] versions = {0, 100, -1, Long.MAX_VALUE, 7};
                if (value % 6 != 5) {
                    varintField(model, 1, versions[(int) Math.floorMod(value, versions.length)]);
                }
                bytesField(model, 8, "opset".getBytes(StandardCharsets.UTF_8));
            } else {
                varintField(model, 1, 8);
            }
            bytesField(
                    model, 2, "pytorch".getBytes(StandardCharsets.UTF_8)); // producer_name, skipped
            if (kind == Kind.LIE_LENGTH && pick % 4 == 0) {
                lyingField(
                        model,
                        7,
                        graph.toByteArray(),
                        LENGTHS[(int) Math.floorMod(value, LENGTHS.length)]);
            } else {
                bytesField(model, 7, graph.toByteArray());
            }
            byte[] bytes = model.toByteArray();
            return kind == Kind.BYTES
                    ? FuzzSupport.corrupt(bytes, byteKind, where, (int) value)
                    : bytes;
        }

        private void mutateGraph(ByteArrayOutputStream graph) {
            switch ((int) Math.floorMod(value, 6)) {
                case 0: // an anonymous weight whose only MatMul has no output
                    bytesField(
                            graph,
                            5,
                            tensor(
                                    "onnx::MatMul_999",
                                    new long[] {1, 1},
                                    OnnxModelReader.FLOAT,
                                    9,
                                    floats(1),
                                    false));
                    bytesField(
                            graph,
                            1,
                            node(
                                    "/odd/MatMul",
                                    "MatMul",
                                    new String[] {"x", "onnx::MatMul_999"},
                                    new String[0]));
                    break;
                case 1: // a node with no inputs or outputs at all
                    bytesField(graph, 1, node("", "", new String[0], new String[0]));
                    break;
                case 2: // a weight used by a second MatMul
                    bytesField(
                            graph,
                            1,
                            node(
                                    "/dup/MatMul",
                                    "MatMul",
                                    new String[] {"y", "onnx::MatMul_101"},
                                    new String[] {"dup"}));
                    break;
                case 3: // an initializer repeated under an existing name
                    bytesField(
                            graph,
                            5,
                            tensor(
                                    "embeddings.word_embeddings.weight",
                                    new long[] {1},
                                    OnnxModelReader.FLOAT,
                                    9,
                                    floats(1),
                                    false));
                    break;
                case 4: // a MatMul weight used as the first input too
                    bytesField(
                            graph,
                            1,
                            node(
                                    "/self/MatMul",
                                    "MatMul",
                                    new String[] {"onnx::MatMul_102", "onnx::MatMul_102"},
                                    new String[] {"self"}));
                    break;
                default: // unknown fields of every wire type
                    varintField(graph, 99, value);
                    varint(graph, (100L << 3) | 1);
                    graph.writeBytes(new byte[8]);
                    varint(graph, (101L << 3) | 5);
                    graph.writeBytes(new byte[4]);
            }
        }

        /** One TensorProto in a field, corrupted when {@code mutate}. */
        private byte[] tensor(
                String name,
                long[] dims,
                int dataType,
                int dataField,
                byte[] data,
                boolean mutate) {
            Kind k = mutate ? kind : Kind.NONE;
            long[] d =
                    k == Kind.DIMS
                            ? NASTY_DIMS[(int) Math.floorMod(value, NASTY_DIMS.length)]
                            : dims;
            long type =
                    k == Kind.DATA_TYPE
                            ? NASTY_TYPES[(int) Math.floorMod(value, NASTY_TYPES.length)]
                            : dataType;
            byte[] payload = data;
            int field = dataField;
            if (k == Kind.DATA_SIZE) {
                int delta = (int) Math.floorMod(value, 17) - 8;
                payload = java.util.Arrays.copyOf(data, Math.max(0, data.length + delta));
            } else if (k == Kind.TYPED_FIELD) {
                int[] fields = {4, 5, 7, 10, 6, 9};
                field = fields[(int) Math.floorMod(value, fields.length)];
            }
            ByteArrayOutputStream t = new ByteArrayOutputStream();
            if (value % 2 == 0 || k != Kind.DIMS) {
                for (long x : d) {
                    varintField(t, 1, x);
                }
            } else { // packed dims
                ByteArrayOutputStream packed = new ByteArrayOutputStream();
                for (long x : d) {
                    varint(packed, x);
                }
                bytesField(t, 1, packed.toByteArray());
            }
            varintField(t, 2, type);
            bytesField(t, 8, name.getBytes(StandardCharsets.UTF_8));
            if (k == Kind.LIE_LENGTH && pick % 4 != 0) {
                lyingField(t, field, payload, LENGTHS[(int) Math.floorMod(value, LENGTHS.length)]);
            } else {
                bytesField(t, field, payload);
            }
            if (k == Kind.EXTERNAL) {
                if (value % 2 == 0) {
                    varintField(t, 14, 1);
                } else {
                    bytesField(t, 13, "location".getBytes(StandardCharsets.UTF_8));
                }
            }
            return t.toByteArray();
        }
    }

    @Provide
    Arbitrary<Mutation> mutations() {
        return Combinators.combine(
                        Arbitraries.of(Kind.class),
                        Arbitraries.of(ByteKind.class),
                        Arbitraries.doubles().between(0, 1),
                        Arbitraries.integers().between(0, 10_000),
                        Arbitraries.oneOf(
                                Arbitraries.longs().between(0, 1_000_000), Arbitraries.longs()))
                .as(Mutation::new);
    }

    @Property
    void mutatedOnnxFilesReadOrFailCleanly(@ForAll("mutations") Mutation m) throws IOException {
        Path file = dir.resolve("fuzz-" + COUNTER.incrementAndGet() + ".onnx");
        byte[] bytes = m.build();
        Files.write(file, bytes);
        try {
            if (m.pick() % 3 == 0) {
                FuzzSupport.check(
                        m,
                        file.toString(),
                        () -> OnnxImport.loadBert(file, CONFIG, Device.cpu()).close(),
                        IllegalArgumentException.class,
                        UncheckedIOException.class,
                        CheckpointException.class);
            } else {
                FuzzSupport.check(
                        m,
                        file.toString(),
                        () -> {
                            try (NDManager manager = NDManager.newBaseManager()) {
                                Map<String, NDArray> read =
                                        OnnxImport.readBertWeights(file, manager);
                                long bytesRead = 0;
                                for (NDArray a : read.values()) {
                                    bytesRead += a.size() * a.getDataType().getNumOfBytes();
                                }
                                // int64 varints may widen 8x, float16 2x; never more than that
                                assertTrue(
                                        bytesRead <= 8L * bytes.length,
                                        "read "
                                                + bytesRead
                                                + " bytes from a "
                                                + bytes.length
                                                + "-byte file");
                            }
                        },
                        IllegalArgumentException.class,
                        UncheckedIOException.class);
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @Example
    void theInputsThatFoundBugsAreRefusedNamingTheFile() throws IOException {
        // dims [2^31 - 1] used to allocate an 8 GiB float[] before comparing with the data (an
        // OutOfMemoryError); [10^12] escaped as ArithmeticException; [-1, -8] as Shape's message
        // without the file; a MatMul with no output as IndexOutOfBoundsException.
        List<Mutation> found =
                List.of(
                        new Mutation(Kind.DIMS, ByteKind.TRUNCATE, 0, 0, 6),
                        new Mutation(Kind.DIMS, ByteKind.TRUNCATE, 0, 0, 0),
                        new Mutation(Kind.DIMS, ByteKind.TRUNCATE, 0, 1, 3),
                        new Mutation(Kind.DIMS, ByteKind.TRUNCATE, 0, VALUES.size(), 6),
                        new Mutation(Kind.GRAPH, ByteKind.TRUNCATE, 0, 0, 0));
        for (int i = 0; i < found.size(); i++) {
            Mutation m = found.get(i);
            Path file = dir.resolve("found-" + i + ".onnx");
            Files.write(file, m.build());
            try (NDManager manager = NDManager.newBaseManager()) {
                RuntimeException e =
                        FuzzSupport.check(
                                m,
                                file.toString(),
                                () -> OnnxImport.readBertWeights(file, manager),
                                IllegalArgumentException.class);
                assertNotNull(e);
            }
        }
    }

    // ---- a minimal protobuf writer, as in OnnxImportTest ----

    static byte[] node(String name, String op, String[] inputs, String[] outputs) {
        ByteArrayOutputStream n = new ByteArrayOutputStream();
        for (String in : inputs) {
            bytesField(n, 1, in.getBytes(StandardCharsets.UTF_8));
        }
        for (String out : outputs) {
            bytesField(n, 2, out.getBytes(StandardCharsets.UTF_8));
        }
        bytesField(n, 3, name.getBytes(StandardCharsets.UTF_8));
        bytesField(n, 4, op.getBytes(StandardCharsets.UTF_8));
        return n.toByteArray();
    }

    static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    static void varint(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7fL) != 0) {
            out.write((int) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    static void varintField(ByteArrayOutputStream out, int field, long v) {
        varint(out, (long) field << 3);
        varint(out, v);
    }

    static void bytesField(ByteArrayOutputStream out, int field, byte[] v) {
        lyingField(out, field, v, v.length);
    }

    /** A length-delimited field whose declared length may differ from its content. */
    static void lyingField(ByteArrayOutputStream out, int field, byte[] v, long declared) {
        varint(out, ((long) field << 3) | 2);
        varint(out, declared);
        out.writeBytes(v);
    }
}
