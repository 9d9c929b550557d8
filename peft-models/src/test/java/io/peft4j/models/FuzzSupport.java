package io.peft4j.models;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.Stream;
import net.jqwik.api.statistics.Statistics;

/** Shared pieces of the fuzz properties: byte mutations, nasty JSON values, the outcome check. */
final class FuzzSupport {

    private FuzzSupport() {}

    /** A try that takes longer than this is a hang. */
    static final Duration HANG = Duration.ofSeconds(20);

    /**
     * JSON values that have broken parsers: huge, negative, fractional, of the wrong type, deep.
     */
    static final String[] NASTY_VALUES = {
        "1000000000",
        "1000000000000",
        "99999999999",
        "2147483647",
        "-2147483648",
        "-1",
        "0",
        "1",
        "1.5",
        "1e400",
        "-1e400",
        "NaN",
        "Infinity",
        "\"16\"",
        "\"abc\"",
        "\"\"",
        "[]",
        "[16]",
        "[16, 16]",
        "{}",
        "{\"type\": \"linear\", \"factor\": 1e30}",
        "null",
        "true",
        "false",
        "[".repeat(300) + "]".repeat(300),
        "{\"a\":".repeat(300) + "1" + "}".repeat(300),
        "\"\\u0000\"",
        "\"../../etc\"",
    };

    /** Kinds of byte-level corruption. */
    enum ByteKind {
        TRUNCATE,
        FLIP_BITS,
        GARBAGE,
        JSON_CHARS,
        BAD_UTF8,
        DELETE_RANGE,
        DUPLICATE_RANGE
    }

    /** Corrupts {@code in}: {@code where} in [0, 1) picks the position, {@code seed} the bytes. */
    static byte[] corrupt(byte[] in, ByteKind kind, double where, int seed) {
        int at = Math.min(in.length, (int) (where * in.length));
        java.util.Random r = new java.util.Random(seed);
        switch (kind) {
            case TRUNCATE:
                return Arrays.copyOf(in, at);
            case FLIP_BITS:
                {
                    byte[] out = in.clone();
                    for (int i = 0, n = 1 + r.nextInt(4); i < n && out.length > 0; i++) {
                        out[Math.floorMod(at + r.nextInt(64), out.length)] ^=
                                (byte) (1 << r.nextInt(8));
                    }
                    return out;
                }
            case GARBAGE:
                {
                    byte[] out = in.clone();
                    for (int i = 0, n = 1 + r.nextInt(16); i < n && at + i < out.length; i++) {
                        out[at + i] = (byte) r.nextInt(256);
                    }
                    return out;
                }
            case JSON_CHARS:
                {
                    String alphabet = "{}[]\",:-.0123456789eE \\/";
                    byte[] out = in.clone();
                    for (int i = 0, n = 1 + r.nextInt(6); i < n && at + i < out.length; i++) {
                        out[at + i] = (byte) alphabet.charAt(r.nextInt(alphabet.length()));
                    }
                    return out;
                }
            case BAD_UTF8:
                {
                    byte[][] bad = {
                        {(byte) 0xC3, 0x28},
                        {(byte) 0xFF},
                        {(byte) 0xE2, (byte) 0x82},
                        {(byte) 0xED, (byte) 0xA0, (byte) 0x80},
                        {(byte) 0xF8, (byte) 0x88, (byte) 0x80}
                    };
                    byte[] b = bad[r.nextInt(bad.length)];
                    byte[] out = new byte[in.length + b.length];
                    System.arraycopy(in, 0, out, 0, at);
                    System.arraycopy(b, 0, out, at, b.length);
                    System.arraycopy(in, at, out, at + b.length, in.length - at);
                    return out;
                }
            case DELETE_RANGE:
                {
                    int n = Math.min(1 + r.nextInt(40), in.length - at);
                    byte[] out = new byte[in.length - n];
                    System.arraycopy(in, 0, out, 0, at);
                    System.arraycopy(in, at + n, out, at, in.length - at - n);
                    return out;
                }
            case DUPLICATE_RANGE:
                {
                    int n = Math.min(1 + r.nextInt(40), in.length - at);
                    byte[] out = new byte[in.length + n];
                    System.arraycopy(in, 0, out, 0, at + n);
                    System.arraycopy(in, at, out, at + n, in.length - at);
                    return out;
                }
            default:
                throw new AssertionError(kind);
        }
    }

    /** Something that loads a mutated file and returns normally or throws. */
    @FunctionalInterface
    interface Load {
        void run() throws Exception;
    }

    /**
     * Runs {@code load}; it must finish within {@link #HANG} and either succeed or throw one of the
     * documented types with a message that contains {@code mustName}. Records the outcome in the
     * jqwik statistics.
     *
     * @return the documented exception, or null when the load succeeded
     */
    @SafeVarargs
    static RuntimeException check(
            Object mutation,
            String mustName,
            Load load,
            Class<? extends RuntimeException>... documented) {
        Throwable thrown =
                assertTimeoutPreemptively(
                        HANG,
                        () -> {
                            try {
                                load.run();
                                return null;
                            } catch (Throwable t) {
                                return t;
                            }
                        },
                        () -> "hang on " + mutation);
        if (thrown == null) {
            Statistics.label("outcome").collect("loaded");
            return null;
        }
        boolean ok = Arrays.stream(documented).anyMatch(c -> c.isInstance(thrown));
        if (thrown instanceof UncheckedIOException) {
            ok &= thrown.getCause() instanceof IOException;
        }
        if (!ok) {
            fail(mutation + " escaped as " + thrown, thrown);
        }
        String message = thrown.getMessage();
        assertTrue(
                message != null && message.contains(mustName),
                "the message must name " + mustName + " (" + mutation + "): " + message);
        Statistics.label("outcome").collect(thrown.getClass().getSimpleName());
        return (RuntimeException) thrown;
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static void deleteTree(Path dir) throws IOException {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toArray(Path[]::new)) {
                Files.deleteIfExists(p);
            }
        }
    }
}
