package io.peft4j.tasks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
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
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
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
import net.jqwik.api.statistics.Statistics;

/**
 * Fuzzes the data-set readers ({@link DataReaders}: TSV and JSONL classification data, plain text,
 * JSONL and JSON-array causal-LM records) with mutations of valid files: corrupted and non-UTF-8
 * bytes, missing and extra columns, labels that are not class indices, values of the wrong type,
 * deep JSON, huge lines, odd line ends. Every try either reads at least one example or fails with a
 * {@link DataFormatException} (or {@link UncheckedIOException}) whose message starts with the file
 * and names the line (or record) unless the problem is the whole file; never another exception or a
 * hang. 1,000 cases ({@code -Djqwik.tries.default=10000} for more).
 */
class DataReadersFuzzProperties {

    private static final Duration HANG = Duration.ofSeconds(20);

    private static Path dir;
    private static final AtomicInteger COUNTER = new AtomicInteger();

    @BeforeContainer
    static void makeDir() throws IOException {
        dir = Files.createTempDirectory("data-fuzz");
    }

    @AfterContainer
    static void cleanUp() throws IOException {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toArray(Path[]::new)) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** The readers and a valid file for each. */
    enum Format {
        TSV(
                "tsv",
                true,
                "sentence\tlabel\nit 's a charming journey .\t1\n\nunfunny and dull\t0\nfine\t2\n"),
        LABELED_JSONL(
                "jsonl",
                true,
                "{\"text\": \"good film\", \"label\": 1}\n\n"
                        + "{\"sentence\": \"bad film\", \"label\": \"0\"}\n{\"text\": \"é ü 漢字\", \"label\": 2}\n"),
        TXT("txt", false, "First paragraph,\nsecond line.\n\n\nSecond paragraph é 漢字.\n"),
        TEXT_JSONL(
                "jsonl",
                false,
                "{\"instruction\": \"Add 2 and 3.\", \"output\": \"5\"}\n"
                        + "{\"instruction\": \"Q\", \"input\": \"ctx\", \"output\": \"A\"}\n{\"text\": \"plain\"}\n"),
        JSON_ARRAY(
                "json",
                false,
                "[{\"instruction\": \"Q\", \"input\": \"ctx\", \"output\": \"A\"},\n"
                        + " {\"text\": \"plain text\"}]\n");

        final String extension;
        final boolean labeled;
        final String valid;

        Format(String extension, boolean labeled, String valid) {
            this.extension = extension;
            this.labeled = labeled;
            this.valid = valid;
        }
    }

    /** Kinds of corruption. */
    enum Kind {
        NONE,
        TRUNCATE,
        FLIP_BITS,
        GARBAGE,
        BAD_UTF8,
        SPLICE_TEXT,
        FIELD_VALUE,
        TABS,
        HUGE_LINE,
        DEEP_JSON,
        LINE_ENDS,
        WHOLE_FILE
    }

    /** Strings spliced into a file: JSON and TSV structure, odd characters. */
    static final String[] SPLICES = {
        "\t",
        "\t\t",
        "\n",
        "\r",
        "\r\n",
        "\u0000",
        "\uFEFF",
        "{",
        "}",
        "[",
        "]",
        "\"",
        "\\",
        ":",
        ",",
        "\\u12",
        "\\ud800",
        "\u2028",
        "\uD83D\uDE00",
        "-",
        "1e999",
        "null",
        " "
    };

    /** Values for a label or text field. */
    static final String[] VALUES = {
        "-1",
        "0",
        "1.5",
        "99999999999",
        "2147483648",
        "1e3",
        "\"7\"",
        "\"\"",
        "\" 3\"",
        "\"one\"",
        "null",
        "true",
        "[]",
        "[1]",
        "{}",
        "{\"a\": 1}",
        "NaN",
        "-0",
        "\"\\u0000\"",
        "[".repeat(5000) + "]".repeat(5000),
        "\"" + "x".repeat(100_000) + "\""
    };

    /** TSV cells. */
    static final String[] CELLS = {
        "", "-1", "1.5", "99999999999", "one", " 1 ", "+1", "0x1", "١", "1\r", "label"
    };

    /** One corruption; {@code where} in [0, 1) picks the position, {@code seed} the details. */
    record Mutation(Format format, Kind kind, double where, int seed) {
        byte[] apply() {
            byte[] in = format.valid.getBytes(StandardCharsets.UTF_8);
            int at = Math.min(in.length, (int) (where * in.length));
            Random r = new Random(seed);
            String text = format.valid;
            int charAt = Math.min(text.length(), (int) (where * text.length()));
            switch (kind) {
                case NONE:
                    return in;
                case TRUNCATE:
                    return Arrays.copyOf(in, at);
                case FLIP_BITS:
                    {
                        byte[] out = in.clone();
                        for (int i = 0, n = 1 + r.nextInt(4); i < n; i++) {
                            out[Math.floorMod(at + r.nextInt(32), out.length)] ^=
                                    (byte) (1 << r.nextInt(8));
                        }
                        return out;
                    }
                case GARBAGE:
                    {
                        byte[] out = in.clone();
                        for (int i = 0, n = 1 + r.nextInt(12); i < n && at + i < out.length; i++) {
                            out[at + i] = (byte) r.nextInt(256);
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
                            {(byte) 0xC0, (byte) 0xAF},
                            {(byte) 0x80}
                        };
                        byte[] b = bad[r.nextInt(bad.length)];
                        byte[] out = new byte[in.length + b.length];
                        System.arraycopy(in, 0, out, 0, at);
                        System.arraycopy(b, 0, out, at, b.length);
                        System.arraycopy(in, at, out, at + b.length, in.length - at);
                        return out;
                    }
                case SPLICE_TEXT:
                    {
                        StringBuilder sb = new StringBuilder(text);
                        for (int i = 0, n = 1 + r.nextInt(3); i < n; i++) {
                            sb.insert(
                                    Math.min(sb.length(), charAt + r.nextInt(8)),
                                    SPLICES[r.nextInt(SPLICES.length)]);
                        }
                        return utf8(sb.toString());
                    }
                case FIELD_VALUE:
                    {
                        if (format == Format.TSV) {
                            String[] lines = text.split("\n", -1);
                            int line = 1 + r.nextInt(lines.length - 2);
                            String[] cells = lines[line].split("\t", -1);
                            if (cells.length == 2) {
                                cells[r.nextInt(2)] = CELLS[r.nextInt(CELLS.length)];
                            }
                            lines[line] = String.join("\t", cells);
                            return utf8(String.join("\n", lines));
                        }
                        if (format == Format.TXT) {
                            return utf8(
                                    text.substring(0, charAt)
                                            + VALUES[r.nextInt(VALUES.length)]
                                            + text.substring(charAt));
                        }
                        // replace one JSON value (after a colon) with a nasty one
                        List<Integer> colons = new java.util.ArrayList<>();
                        for (int i = 0; i < text.length(); i++) {
                            if (text.charAt(i) == ':') {
                                colons.add(i);
                            }
                        }
                        int c = colons.get(r.nextInt(colons.size()));
                        int end = c + 1;
                        while (end < text.length() && ",}\n".indexOf(text.charAt(end)) < 0) {
                            end++;
                        }
                        return utf8(
                                text.substring(0, c + 1)
                                        + " "
                                        + VALUES[r.nextInt(VALUES.length)]
                                        + text.substring(end));
                    }
                case TABS:
                    { // missing, extra and reordered columns
                        String[] variants = {
                            text.replaceFirst("\t", ""),
                            text.replaceFirst("\t", "\t\t"),
                            text.replace("sentence\tlabel", "label\tsentence"),
                            text.replace("sentence\tlabel", "text"),
                            text.replace("sentence\tlabel", "sentence\tlabel\tlabel"),
                            text.replace("sentence\tlabel", "sentence\tsentence\tlabel"),
                            text.replace("\t1\n", "\t1\textra\n"),
                            text.replace("\t", " ")
                        };
                        return utf8(variants[r.nextInt(variants.length)]);
                    }
                case HUGE_LINE:
                    {
                        int n = 1 + r.nextInt(2_000_000);
                        String huge =
                                r.nextBoolean()
                                        ? "a".repeat(n)
                                        : format.labeled
                                                ? "{\"text\": \""
                                                        + "b".repeat(n)
                                                        + "\", \"label\": 1}"
                                                : "{\"text\": \"" + "b".repeat(n) + "\"}";
                        if (format == Format.TSV) {
                            huge = "c".repeat(n) + "\t1";
                        }
                        String[] lines = text.split("\n", -1);
                        int line = r.nextInt(lines.length);
                        lines[line] = format == Format.JSON_ARRAY ? lines[line] + huge : huge;
                        return utf8(String.join("\n", lines));
                    }
                case DEEP_JSON:
                    {
                        int depth = 100 + r.nextInt(20_000);
                        String deep =
                                r.nextBoolean()
                                        ? "[".repeat(depth) + "]".repeat(depth)
                                        : "{\"a\":".repeat(depth) + "1" + "}".repeat(depth);
                        String line =
                                format == Format.TSV
                                        ? deep + "\t1"
                                        : r.nextBoolean()
                                                ? deep
                                                : "{\"text\": " + deep + ", \"label\": 1}";
                        return utf8(
                                format == Format.JSON_ARRAY
                                        ? (r.nextBoolean() ? deep : "[" + line + "]")
                                        : text + line + "\n");
                    }
                case LINE_ENDS:
                    {
                        String[] variants = {
                            text.replace("\n", "\r\n"),
                            text.replace("\n", "\r"),
                            "\uFEFF" + text,
                            "\uFEFF\uFEFF" + text,
                            text.replace("\n", "\n\uFEFF"),
                            text.replace("\n", "\u2028"),
                            text.replace("\n", "\n\n\n"),
                            text.stripTrailing()
                        };
                        return utf8(variants[r.nextInt(variants.length)]);
                    }
                case WHOLE_FILE:
                    {
                        String[] variants = {
                            "",
                            "\n",
                            "\n\n \t\n",
                            "\uFEFF",
                            "sentence\tlabel\n",
                            "[]",
                            "{}",
                            "null",
                            "1",
                            "\"text\"",
                            "[null]",
                            "[[]]",
                            "[1, 2]",
                            "\u0000\u0000"
                        };
                        return utf8(variants[r.nextInt(variants.length)]);
                    }
                default:
                    throw new AssertionError(kind);
            }
        }
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Provide
    Arbitrary<Mutation> mutations() {
        return Combinators.combine(
                        Arbitraries.of(Format.class),
                        Arbitraries.of(Kind.class),
                        Arbitraries.doubles().between(0, 1),
                        Arbitraries.integers())
                .as(Mutation::new);
    }

    /**
     * A message names the file and then a line (":N:"), a JSON position or record, or a whole-file
     * problem.
     */
    private static final Pattern LOCATED =
            Pattern.compile(
                    "(?s):\\d+: .*|: not valid JSON: .*line \\d+.*|: record \\d+:? .*|"
                            + ": (no examples in the file|the file is empty.*|expected a JSON array of records, found .*)");

    @Property
    void mutatedDataFilesReadOrFailNamingFileAndLine(@ForAll("mutations") Mutation m)
            throws IOException {
        Path file = dir.resolve("data-" + COUNTER.incrementAndGet() + "." + m.format().extension);
        Files.write(file, m.apply());
        try {
            Throwable thrown =
                    assertTimeoutPreemptively(
                            HANG,
                            () -> {
                                try {
                                    List<?> read =
                                            m.format().labeled
                                                    ? DataReaders.readLabeled(file)
                                                    : DataReaders.readText(file);
                                    assertFalse(read.isEmpty(), "a successful read has examples");
                                    return null;
                                } catch (DataFormatException | UncheckedIOException e) {
                                    return e;
                                } catch (RuntimeException | Error e) {
                                    fail(m + " escaped as " + e, e);
                                    return e;
                                }
                            },
                            () -> "hang on " + m);
            if (thrown == null) {
                Statistics.label("outcome").collect("read");
                return;
            }
            String message = thrown.getMessage();
            assertTrue(
                    message != null && message.startsWith(file.toString()),
                    "the message must start with the file (" + m + "): " + message);
            String rest = message.substring(file.toString().length());
            assertTrue(
                    LOCATED.matcher(rest).matches(),
                    "the message must name the line (" + m + "): " + message);
            Statistics.label("outcome")
                    .collect(
                            thrown.getClass().getSimpleName()
                                    + (rest.matches("(?s):\\d+: .*")
                                            ? " at a line"
                                            : " for the file"));
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @Example
    void nonUtf8FilesNameTheLine() throws IOException {
        Path tsv = dir.resolve("latin1.tsv");
        Files.write(
                tsv,
                "sentence\tlabel\nok\t1\ncaf\u00e9\t0\n".getBytes(StandardCharsets.ISO_8859_1));
        DataFormatException e =
                assertThrows(DataFormatException.class, () -> DataReaders.readLabeled(tsv));
        assertTrue(e.getMessage().startsWith(tsv + ":3: not UTF-8 text"), e.getMessage());
        Path json = dir.resolve("latin1.json");
        Files.write(
                json,
                "[{\"text\": \"ok\"},\n {\"text\": \"caf\u00e9\"}]"
                        .getBytes(StandardCharsets.ISO_8859_1));
        e = assertThrows(DataFormatException.class, () -> DataReaders.readText(json));
        assertEquals(json + ":2: not UTF-8 text (invalid byte sequence)", e.getMessage());
    }
}
