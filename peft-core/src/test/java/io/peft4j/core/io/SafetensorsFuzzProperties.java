package io.peft4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;

/**
 * Corrupted files must either load completely or be rejected with {@link
 * SafetensorsFormatException}: never another exception, never a huge allocation, never a crash.
 */
class SafetensorsFuzzProperties {

    private static Path dir;
    private static byte[] written;
    private static byte[] handMade;

    @BeforeContainer
    static void makeValidFiles() throws IOException {
        dir = Files.createTempDirectory("safetensors-fuzz");
        Path file = dir.resolve("base.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            tensors.put("model.embed.weight", m.arange(12f).reshape(3, 4));
            tensors.put("model.norm.weight", m.ones(new Shape(4)).toType(DataType.FLOAT16, false));
            tensors.put("positions", m.arange(0, 5, 1, DataType.INT64));
            tensors.put("mask", m.create(new boolean[] {true, false, true}));
            tensors.put(
                    "bytes",
                    m.create(
                            ByteBuffer.wrap(new byte[] {1, 2, (byte) 250}),
                            new Shape(3),
                            DataType.UINT8));
            tensors.put("scalar", m.create(2.0));
            SafetensorsWriter.write(file, tensors, Map.of("peft_type", "LORA"));
        }
        written = Files.readAllBytes(file);
        String header =
                "{\"__metadata__\":{\"format\":\"pt\"},"
                        + "\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"I16\",\"shape\":[3],\"data_offsets\":[8,14]},"
                        + "\"c\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[14,16]},"
                        + "\"d\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[16,16]}}";
        handMade =
                SafetensorsTestFiles.raw(
                        header,
                        SafetensorsTestFiles.concat(
                                SafetensorsTestFiles.littleEndianShorts(
                                        0x3F80, 0xC020, 0x4049, 0x0000, 1, -2, 3),
                                new byte[] {-1, 1}));
    }

    @AfterContainer
    static void cleanUp() throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toArray(Path[]::new)) {
                Files.deleteIfExists(p);
            }
        }
    }

    enum Kind {
        TRUNCATE,
        FLIP_BITS,
        OVERWRITE_BYTES,
        JSON_CHARS,
        HEADER_LENGTH,
        SPLICE,
        DELETE_RANGE
    }

    /**
     * One corruption. {@code position} is reduced modulo the header span (when {@code inHeader}) or
     * the file length; {@code bytes} supplies the new bytes, bit numbers or a length.
     */
    record Mutation(Kind kind, int position, boolean inHeader, long value, byte[] bytes) {
        byte[] apply(byte[] in) {
            int headerEnd =
                    in.length >= 8
                            ? (int)
                                    Math.min(
                                            in.length,
                                            8
                                                    + Math.max(
                                                            0,
                                                            Math.min(
                                                                    Integer.MAX_VALUE - 8,
                                                                    ByteBuffer.wrap(in, 0, 8)
                                                                            .order(
                                                                                    ByteOrder
                                                                                            .LITTLE_ENDIAN)
                                                                            .getLong())))
                            : in.length;
            int span = inHeader && headerEnd > 0 ? headerEnd : in.length;
            int at = span == 0 ? 0 : Math.floorMod(position, span);
            switch (kind) {
                case TRUNCATE:
                    return Arrays.copyOf(in, Math.floorMod(position, in.length + 1));
                case FLIP_BITS:
                    {
                        byte[] out = in.clone();
                        for (int i = 0; i < bytes.length && out.length > 0; i++) {
                            int index = Math.floorMod(at + i * 7919, span == 0 ? out.length : span);
                            out[index] ^= (byte) (1 << (bytes[i] & 7));
                        }
                        return out;
                    }
                case OVERWRITE_BYTES:
                    {
                        byte[] out = in.clone();
                        for (int i = 0; i < bytes.length && at + i < out.length; i++) {
                            out[at + i] = bytes[i];
                        }
                        return out;
                    }
                case JSON_CHARS:
                    {
                        // Structural characters and digits reach deeper validation than random
                        // bytes.
                        String alphabet = "{}[]\",:-.0123456789eE ";
                        byte[] out = in.clone();
                        for (int i = 0; i < bytes.length && at + i < out.length; i++) {
                            out[at + i] =
                                    (byte)
                                            alphabet.charAt(
                                                    Math.floorMod(bytes[i], alphabet.length()));
                        }
                        return out;
                    }
                case HEADER_LENGTH:
                    {
                        byte[] out = in.clone();
                        if (out.length >= 8) {
                            ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value);
                        }
                        return out;
                    }
                case SPLICE:
                    {
                        byte[] out = new byte[in.length + bytes.length];
                        System.arraycopy(in, 0, out, 0, at);
                        System.arraycopy(bytes, 0, out, at, bytes.length);
                        System.arraycopy(in, at, out, at + bytes.length, in.length - at);
                        return out;
                    }
                case DELETE_RANGE:
                    {
                        int n = Math.min(bytes.length, in.length - at);
                        byte[] out = new byte[in.length - n];
                        System.arraycopy(in, 0, out, 0, at);
                        System.arraycopy(in, at + n, out, at, in.length - at - n);
                        return out;
                    }
                default:
                    throw new AssertionError(kind);
            }
        }

        @Override
        public String toString() {
            return kind
                    + "(position="
                    + position
                    + ", inHeader="
                    + inHeader
                    + ", value="
                    + value
                    + ", bytes="
                    + Arrays.toString(bytes)
                    + ")";
        }
    }

    @Provide
    Arbitrary<Mutation> mutations() {
        Arbitrary<Long> lengths =
                Arbitraries.oneOf(
                        Arbitraries.longs().between(0, 400),
                        Arbitraries.longs(),
                        Arbitraries.of(
                                -1L,
                                Long.MIN_VALUE,
                                Long.MAX_VALUE,
                                100_000_000L,
                                100_000_001L,
                                1L << 31,
                                1L << 32));
        return Combinators.combine(
                        Arbitraries.of(Kind.class),
                        Arbitraries.integers(),
                        Arbitraries.integers().between(0, 9).map(i -> i < 7), // mostly the header
                        lengths,
                        Arbitraries.bytes().array(byte[].class).ofMinSize(1).ofMaxSize(24))
                .as(Mutation::new);
    }

    @Provide
    Arbitrary<List<Mutation>> mutationLists() {
        return mutations().list().ofMinSize(1).ofMaxSize(3);
    }

    /**
     * A case that neither loads nor fails within this is a hang: a bug of its own, reported with
     * the case.
     */
    private static final Duration HANG = Duration.ofSeconds(20);

    @Property // 1,000 tries (jqwik.tries.default); -Djqwik.tries.default=10000 for the long run
    void corruptedFilesLoadOrFailWithFormatException(
            @ForAll boolean handMadeBase, @ForAll("mutationLists") List<Mutation> mutations) {
        String outcome =
                assertTimeoutPreemptively(
                        HANG,
                        () -> loadOrFail(handMadeBase, mutations),
                        () ->
                                "hang on "
                                        + mutations
                                        + " of the "
                                        + (handMadeBase ? "hand-made" : "written")
                                        + " file");
        Statistics.label("outcome").collect(outcome);
    }

    /**
     * @return "rejected" or "loaded"
     */
    private String loadOrFail(boolean handMadeBase, List<Mutation> mutations) throws IOException {
        byte[] bytes = handMadeBase ? handMade : written;
        for (Mutation mutation : mutations) {
            bytes = mutation.apply(bytes);
        }
        Path file = dir.resolve("fuzz.safetensors");
        Files.write(file, bytes);
        SafetensorsFile opened;
        try {
            opened = SafetensorsFile.open(file);
        } catch (SafetensorsFormatException e) {
            assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
            return "rejected";
        }
        try (SafetensorsFile f = opened;
                NDManager m = NDManager.newBaseManager()) {
            for (String name : f.names()) {
                TensorInfo info = f.info(name);
                NDArray array = f.load(name, m);
                assertArrayEquals(info.shape(), array.getShape().getShape(), name);
                assertEquals(info.dtype().engineType(), array.getDataType(), name);
                if (info.dtype().isFloatingPoint()) {
                    assertEquals(info.numel(), f.loadFloats(name).length, name);
                }
                array.close();
            }
        }
        return "loaded";
    }
}
