package io.peft4j.tasks;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonIOException;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Reads the data sets of the example tasks. Files are UTF-8; the format comes from the extension.
 *
 * <ul>
 *   <li>Classification: {@code .tsv} with a header naming a text column ({@code sentence} or {@code
 *       text}) and a {@code label} column (SST-2/GLUE layout); {@code .jsonl} with one object per
 *       line holding {@code text} (or {@code sentence}) and an integer {@code label}.
 *   <li>Causal LM: {@code .txt} plain text, split into documents at blank lines (a paragraph longer
 *       than {@value #MAX_DOCUMENT_CHARS} characters is split further at line ends); {@code .jsonl}
 *       (one object per line) or {@code .json} (an array of objects) holding either {@code text},
 *       or {@code instruction} (plus optional {@code input}) and {@code output}.
 * </ul>
 *
 * <p>Every problem is a {@link DataFormatException} naming the file and line.
 */
public final class DataReaders {

    /** Longest document {@link #readText} makes from plain text, in characters. */
    public static final int MAX_DOCUMENT_CHARS = 4000;

    private DataReaders() {}

    /**
     * Reads labelled texts from a {@code .tsv} or {@code .jsonl} file.
     *
     * @param file the file
     * @return the examples in file order, at least one
     * @throws DataFormatException if the file is missing, of another format, or malformed
     */
    public static List<LabeledText> readLabeled(Path file) {
        String ext = extension(file);
        try (BufferedReader in = open(file)) {
            switch (ext) {
                case "tsv":
                    return readLabeledTsv(in, file.toString());
                case "jsonl":
                    return readLabeledJsonl(in, file.toString());
                default:
                    throw new DataFormatException(
                            file
                                    + ": classification data must be .tsv"
                                    + " (header sentence<TAB>label) or .jsonl ({\"text\": ..., \"label\": n}),"
                                    + " not '."
                                    + ext
                                    + "'");
            }
        } catch (IOException e) {
            throw ioError(file, e);
        }
    }

    /**
     * Reads labelled texts in the TSV layout: a header with a {@code sentence} or {@code text}
     * column and a {@code label} column, then one example per line.
     *
     * @param in the text
     * @param source the name to use in errors
     * @return the examples, at least one
     * @throws IOException when reading {@code in} fails
     */
    public static List<LabeledText> readLabeledTsv(Reader in, String source) throws IOException {
        BoundedLines reader = new BoundedLines(in, source);
        String header = reader.next();
        if (header == null) {
            throw new DataFormatException(
                    source
                            + ": the file is empty; expected a header line"
                            + " such as sentence<TAB>label");
        }
        List<String> columns = Arrays.asList(stripBom(header).split("\t", -1));
        int textCol =
                columns.indexOf("sentence") >= 0
                        ? columns.indexOf("sentence")
                        : columns.indexOf("text");
        int labelCol = columns.indexOf("label");
        if (textCol < 0 || labelCol < 0) {
            throw new DataFormatException(
                    source
                            + ":1: the header must name a 'sentence' (or 'text')"
                            + " column and a 'label' column, separated by tabs; found "
                            + columns);
        }
        List<LabeledText> out = new ArrayList<>();
        String line;
        while ((line = reader.next()) != null) {
            int lineNo = reader.lineNumber();
            if (line.isBlank()) {
                continue;
            }
            String[] fields = line.split("\t", -1);
            if (fields.length != columns.size()) {
                throw new DataFormatException(
                        source
                                + ":"
                                + lineNo
                                + ": "
                                + fields.length
                                + " tab-separated fields, the header has "
                                + columns.size());
            }
            out.add(
                    new LabeledText(
                            fields[textCol],
                            parseLabel(fields[labelCol].trim(), source, lineNo),
                            source + ":" + lineNo));
        }
        requireSome(out, source);
        checkLabelRange(out);
        return out;
    }

    /**
     * Labels at most this factor (plus {@link #LABEL_SLACK}) above the number of distinct labels
     * pass.
     */
    private static final int LABEL_SPREAD = 4;

    private static final int LABEL_SLACK = 16;

    /**
     * Refuses a label far outside the others: class indices are 0..n-1 and the head gets a row per
     * index, so one stray 1000000 among 0/1 would build a million-class head. Names the file and
     * line of the largest label.
     *
     * @param examples examples as read, each with where it came from
     * @throws DataFormatException naming the file and line
     */
    public static void checkLabelRange(List<LabeledText> examples) {
        java.util.BitSet seen = new java.util.BitSet();
        LabeledText top = null;
        int distinct = 0;
        for (LabeledText e : examples) {
            if (e.label() < (1 << 24) && !seen.get(e.label())) {
                seen.set(e.label());
                distinct++;
            } else if (e.label() >= (1 << 24)) {
                distinct++;
            }
            if (top == null || e.label() > top.label()) {
                top = e;
            }
        }
        if (top != null && (long) top.label() + 1 > (long) LABEL_SPREAD * distinct + LABEL_SLACK) {
            int second = -1;
            for (LabeledText e : examples) {
                if (e.label() < top.label()) {
                    second = Math.max(second, e.label());
                }
            }
            throw new DataFormatException(
                    (top.where() != null ? top.where() : "an example")
                            + ": label "
                            + top.label()
                            + " is far outside the other labels ("
                            + (second < 0 ? "none below it" : "0.." + second)
                            + ", "
                            + distinct
                            + " distinct); class indices must be 0..n-1 and the model gets one output per index");
        }
    }

    /**
     * Reads labelled texts from JSON lines: {@code {"text": "...", "label": 1}} ({@code sentence}
     * is accepted for {@code text}).
     *
     * @param in the text
     * @param source the name to use in errors
     * @return the examples, at least one
     * @throws IOException when reading {@code in} fails
     */
    public static List<LabeledText> readLabeledJsonl(Reader in, String source) throws IOException {
        List<LabeledText> out = new ArrayList<>();
        forEachJsonLine(
                in,
                source,
                (obj, lineNo) -> {
                    String text = string(obj, source + ":" + lineNo, "text", "sentence");
                    JsonElement label = obj.get("label");
                    if (label == null || !label.isJsonPrimitive()) {
                        throw new DataFormatException(
                                source + ":" + lineNo + ": no integer \"label\" field");
                    }
                    out.add(
                            new LabeledText(
                                    text,
                                    parseLabel(label.getAsString(), source, lineNo),
                                    source + ":" + lineNo));
                });
        requireSome(out, source);
        checkLabelRange(out);
        return out;
    }

    /**
     * Reads causal-LM examples from {@code .txt}, {@code .jsonl} or {@code .json}.
     *
     * @param file the file
     * @return the examples in file order, at least one
     * @throws DataFormatException if the file is missing, of another format, or malformed
     */
    public static List<TextExample> readText(Path file) {
        String ext = extension(file);
        try (BufferedReader in = open(file)) {
            switch (ext) {
                case "txt":
                    return readPlainText(in, file.toString());
                case "jsonl":
                    return readTextJsonl(in, file.toString());
                case "json":
                    return readTextJsonArray(in, file.toString());
                default:
                    throw new DataFormatException(
                            file
                                    + ": causal-LM data must be .txt (plain text),"
                                    + " .jsonl or .json (records with text, or instruction/output), not '."
                                    + ext
                                    + "'");
            }
        } catch (IOException e) {
            throw ioError(file, e);
        } catch (UncheckedIOException e) {
            throw ioError(file, e.getCause());
        }
    }

    /**
     * Splits plain text into documents at blank lines; paragraphs longer than {@value
     * #MAX_DOCUMENT_CHARS} characters are cut at line ends. Line ends inside a document are kept.
     *
     * @param in the text
     * @param source the name to use in errors
     * @return the documents, at least one
     * @throws IOException when reading {@code in} fails
     */
    public static List<TextExample> readPlainText(Reader in, String source) throws IOException {
        BoundedLines reader = new BoundedLines(in, source);
        List<TextExample> out = new ArrayList<>();
        StringBuilder doc = new StringBuilder();
        String line;
        boolean first = true;
        while ((line = reader.next()) != null) {
            if (first) {
                line = stripBom(line);
                first = false;
            }
            if (line.isBlank()) {
                flush(doc, out);
                continue;
            }
            if (doc.length() > 0 && doc.length() + line.length() + 1 > MAX_DOCUMENT_CHARS) {
                flush(doc, out);
            }
            if (doc.length() > 0) {
                doc.append('\n');
            }
            // A single line longer than the limit is cut at the limit.
            while (line.length() > MAX_DOCUMENT_CHARS) {
                out.add(TextExample.plain(line.substring(0, MAX_DOCUMENT_CHARS)));
                line = line.substring(MAX_DOCUMENT_CHARS);
            }
            doc.append(line);
        }
        flush(doc, out);
        requireSome(out, source);
        return out;
    }

    /**
     * Reads causal-LM records from JSON lines.
     *
     * @param in the text
     * @param source the name to use in errors
     * @return the examples, at least one
     * @see #record(JsonObject, String)
     * @throws IOException when reading {@code in} fails
     */
    public static List<TextExample> readTextJsonl(Reader in, String source) throws IOException {
        List<TextExample> out = new ArrayList<>();
        forEachJsonLine(in, source, (obj, lineNo) -> out.add(record(obj, source + ":" + lineNo)));
        requireSome(out, source);
        return out;
    }

    /**
     * Reads causal-LM records from a JSON array of objects.
     *
     * @param in the text
     * @param source the name to use in errors
     * @return the examples, at least one
     */
    public static List<TextExample> readTextJsonArray(Reader in, String source) {
        JsonElement root;
        try {
            root = JsonParser.parseReader(in);
        } catch (JsonIOException e) {
            // a read error (such as a byte that is not UTF-8), not a syntax error
            if (e.getCause() instanceof IOException) {
                throw new UncheckedIOException((IOException) e.getCause());
            }
            throw new DataFormatException(source + ": cannot read: " + rootMessage(e));
        } catch (JsonParseException e) {
            throw new DataFormatException(source + ": not valid JSON: " + rootMessage(e));
        }
        if (!root.isJsonArray()) {
            throw new DataFormatException(
                    source + ": expected a JSON array of records, found " + kind(root));
        }
        JsonArray array = root.getAsJsonArray();
        List<TextExample> out = new ArrayList<>();
        for (int i = 0; i < array.size(); i++) {
            if (!array.get(i).isJsonObject()) {
                throw new DataFormatException(
                        source + ": record " + i + " is " + kind(array.get(i)) + ", not an object");
            }
            out.add(record(array.get(i).getAsJsonObject(), source + ": record " + i));
        }
        requireSome(out, source);
        return out;
    }

    /**
     * One causal-LM record: {@code text}, or {@code instruction} (+ optional {@code input},
     * appended after a blank line) and {@code output}; {@code where} ("file:line" or "file: record
     * i") starts every error message.
     */
    static TextExample record(JsonObject obj, String where) {
        if (obj.has("instruction") || obj.has("output")) {
            String instruction = string(obj, where, "instruction");
            String output = string(obj, where, "output");
            JsonElement input = obj.get("input");
            if (input != null && input.isJsonPrimitive() && !input.getAsString().isBlank()) {
                instruction = instruction + "\n\n" + input.getAsString();
            }
            return TextExample.instruction(instruction, output);
        }
        if (obj.has("text")) {
            return TextExample.plain(string(obj, where, "text"));
        }
        throw new DataFormatException(
                where
                        + ": a record needs \"text\", or"
                        + " \"instruction\" and \"output\"; found keys "
                        + obj.keySet());
    }

    /**
     * Splits examples into a training and a held-out part: the last {@code fraction} of them (in
     * order, so contiguous text stays on one side) is held out.
     *
     * @param examples the examples
     * @param fraction in (0, 1)
     * @param <T> the example type
     * @return [train, held out], both non-empty
     */
    public static <T> List<List<T>> splitTail(List<T> examples, double fraction) {
        if (!(fraction > 0 && fraction < 1)) {
            throw new IllegalArgumentException(
                    "the held-out fraction must be in (0, 1), got " + fraction);
        }
        if (examples.size() < 2) {
            throw new IllegalArgumentException(
                    "cannot split "
                            + examples.size()
                            + " example(s) into a training and a held-out part");
        }
        int held =
                (int)
                        Math.max(
                                1,
                                Math.min(
                                        examples.size() - 1,
                                        Math.round(examples.size() * fraction)));
        int cut = examples.size() - held;
        return List.of(
                List.copyOf(examples.subList(0, cut)),
                List.copyOf(examples.subList(cut, examples.size())));
    }

    /**
     * A seeded random subset, in random order (the whole list, shuffled, if it is not larger).
     *
     * @param examples the examples
     * @param limit how many to keep, {@code >= 1}
     * @param seed the shuffle seed
     * @param <T> the example type
     * @return the subset
     */
    public static <T> List<T> sample(List<T> examples, int limit, long seed) {
        if (limit < 1) {
            throw new IllegalArgumentException("the example limit must be >= 1, got " + limit);
        }
        List<T> copy = new ArrayList<>(examples);
        java.util.Collections.shuffle(copy, new java.util.Random(seed));
        return List.copyOf(copy.subList(0, Math.min(limit, copy.size())));
    }

    // ---- helpers ----

    @FunctionalInterface
    private interface JsonLine {
        void accept(JsonObject obj, int lineNo);
    }

    private static void forEachJsonLine(Reader in, String source, JsonLine consumer)
            throws IOException {
        BoundedLines reader = new BoundedLines(in, source);
        String line;
        while ((line = reader.next()) != null) {
            int lineNo = reader.lineNumber();
            if (lineNo == 1) {
                line = stripBom(line);
            }
            if (line.isBlank()) {
                continue;
            }
            JsonElement element;
            try {
                element = JsonParser.parseString(line);
            } catch (JsonParseException e) {
                throw new DataFormatException(
                        source + ":" + lineNo + ": not valid JSON: " + rootMessage(e));
            }
            if (!element.isJsonObject()) {
                throw new DataFormatException(
                        source + ":" + lineNo + ": expected a JSON object, found " + kind(element));
            }
            consumer.accept(element.getAsJsonObject(), lineNo);
        }
    }

    private static String string(JsonObject obj, String where, String... keys) {
        for (String key : keys) {
            JsonElement e = obj.get(key);
            if (e != null && !e.isJsonNull()) {
                if (!(e instanceof JsonPrimitive) || !((JsonPrimitive) e).isString()) {
                    throw new DataFormatException(
                            where + ": \"" + key + "\" must be a string, found " + kind(e));
                }
                return e.getAsString();
            }
        }
        throw new DataFormatException(
                where
                        + ": no \""
                        + String.join("\" or \"", keys)
                        + "\" field; found keys "
                        + obj.keySet());
    }

    private static int parseLabel(String s, String source, int lineNo) {
        try {
            int label = Integer.parseInt(s);
            if (label >= 0) {
                return label;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new DataFormatException(
                source
                        + ":"
                        + lineNo
                        + ": label '"
                        + s
                        + "' is not a class index (an integer >= 0)");
    }

    private static void flush(StringBuilder doc, List<TextExample> out) {
        if (doc.length() > 0) {
            out.add(TextExample.plain(doc.toString()));
            doc.setLength(0);
        }
    }

    private static void requireSome(List<?> out, String source) {
        if (out.isEmpty()) {
            throw new DataFormatException(source + ": no examples in the file");
        }
    }

    private static String stripBom(String s) {
        return s.startsWith("\uFEFF") ? s.substring(1) : s;
    }

    private static String kind(JsonElement e) {
        if (e.isJsonArray()) {
            return "an array";
        }
        if (e.isJsonObject()) {
            return "an object";
        }
        return e.isJsonNull() ? "null" : "a value (" + e + ")";
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage();
    }

    private static String extension(Path file) {
        String name = file.getFileName() == null ? "" : file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot < 0 ? "" : name.substring(dot + 1).toLowerCase(Locale.ROOT);
    }

    private static BufferedReader open(Path file) {
        if (Files.isDirectory(file)) {
            throw new DataFormatException(file + " is a folder, not a data file");
        }
        if (Files.exists(file) && !Files.isRegularFile(file)) {
            // a FIFO or a device would block or never end
            throw new DataFormatException(
                    file + " is not a regular file (a pipe or device); give a data file");
        }
        try {
            return Files.newBufferedReader(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new DataFormatException(file + ": no such file");
        } catch (IOException e) {
            throw ioError(file, e);
        }
    }

    private static RuntimeException ioError(Path file, IOException e) {
        if (e instanceof CharacterCodingException
                || e.getCause() instanceof CharacterCodingException) {
            long line = lineOfBadByte(file);
            return new DataFormatException(
                    file
                            + (line > 0 ? ":" + line : "")
                            + ": not UTF-8 text (invalid byte sequence)");
        }
        return new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
    }

    /**
     * The line (1-based) of the first byte sequence that is not UTF-8, found by decoding the file
     * again: the reader that failed cannot say, it decodes ahead in blocks. Line ends are {@code
     * \n}, {@code \r\n} or a lone {@code \r}, as for {@link BufferedReader#readLine}.
     *
     * @return the line, or 0 if the file now decodes or cannot be read
     */
    static long lineOfBadByte(Path file) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder(); // reports malformed input
        ByteBuffer bytes = ByteBuffer.allocate(8192);
        CharBuffer chars = CharBuffer.allocate(8192);
        long line = 1;
        boolean afterCr = false;
        try (InputStream in = Files.newInputStream(file)) {
            boolean eof = false;
            while (true) {
                int n = eof ? -1 : in.read(bytes.array(), bytes.position(), bytes.remaining());
                if (n < 0) {
                    eof = true;
                } else {
                    bytes.position(bytes.position() + n);
                }
                bytes.flip();
                CoderResult result;
                do {
                    result = decoder.decode(bytes, chars, eof);
                    chars.flip();
                    while (chars.hasRemaining()) {
                        char c = chars.get();
                        if (c == '\r' || (c == '\n' && !afterCr)) {
                            line++;
                        }
                        afterCr = c == '\r';
                    }
                    chars.clear();
                } while (result.isOverflow());
                if (result.isError()) {
                    return line;
                }
                if (eof) {
                    return 0;
                }
                bytes.compact();
            }
        } catch (IOException e) {
            return 0;
        }
    }
}
