package io.peft4j.core.io;

import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Parses and validates a safetensors JSON header. Package-private: {@link SafetensorsFile} is the
 * public face.
 *
 * <p>A streaming {@link JsonReader} is used rather than a tree model because the tree model keeps
 * the last of duplicate keys silently, and because streaming lets every structural problem be
 * reported with the tensor it belongs to. The reader is iterative (no recursion) and enforces a
 * nesting limit, so deeply nested garbage cannot overflow the stack.
 */
final class SafetensorsHeader {

    static final String METADATA_KEY = "__metadata__";

    final Map<String, String> metadata;
    final SortedMap<String, TensorInfo> tensors;

    private SafetensorsHeader(Map<String, String> metadata, SortedMap<String, TensorInfo> tensors) {
        this.metadata = metadata;
        this.tensors = tensors;
    }

    /**
     * Parses {@code header} and checks every entry against the data region.
     *
     * @param file the file, for messages
     * @param header the raw header bytes (UTF-8 JSON, possibly space-padded)
     * @param dataLength the number of bytes after the header
     */
    static SafetensorsHeader parse(Path file, byte[] header, long dataLength)
            throws SafetensorsFormatException {
        String json = decodeUtf8(file, header);
        Map<String, String> metadata = new LinkedHashMap<>();
        TreeMap<String, TensorInfo> tensors = new TreeMap<>();
        try {
            JsonReader reader = new JsonReader(new StringReader(json));
            reader.setStrictness(Strictness.STRICT);
            if (reader.peek() != JsonToken.BEGIN_OBJECT) {
                throw new SafetensorsFormatException(
                        file, "header is not a JSON object (it starts with " + reader.peek() + ")");
            }
            reader.beginObject();
            Set<String> seen = new HashSet<>();
            while (reader.hasNext()) {
                String key = reader.nextName();
                if (!seen.add(key)) {
                    throw new SafetensorsFormatException(
                            file, "duplicate key '" + key + "' in header");
                }
                if (key.equals(METADATA_KEY)) {
                    readMetadata(file, reader, metadata);
                } else {
                    tensors.put(key, readTensor(file, reader, key));
                }
            }
            reader.endObject();
            if (reader.peek() != JsonToken.END_DOCUMENT) {
                throw new SafetensorsFormatException(
                        file, "header has content after its JSON object");
            }
        } catch (SafetensorsFormatException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            // MalformedJsonException, IllegalStateException (unexpected token),
            // NumberFormatException, nesting-limit errors: all mean "not the JSON we need".
            throw new SafetensorsFormatException(
                    file, "malformed JSON header: " + e.getMessage(), e);
        }
        for (TensorInfo info : tensors.values()) {
            checkEntry(file, info, dataLength);
        }
        checkTiling(file, tensors.values(), dataLength);
        return new SafetensorsHeader(Collections.unmodifiableMap(metadata), tensors);
    }

    private static String decodeUtf8(Path file, byte[] header) throws SafetensorsFormatException {
        CharsetDecoder decoder =
                StandardCharsets.UTF_8
                        .newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            CharBuffer chars = decoder.decode(ByteBuffer.wrap(header));
            return chars.toString();
        } catch (CharacterCodingException e) {
            throw new SafetensorsFormatException(file, "header is not valid UTF-8", e);
        }
    }

    private static void readMetadata(Path file, JsonReader reader, Map<String, String> out)
            throws IOException {
        JsonToken t = reader.peek();
        if (t == JsonToken.NULL) {
            // Hugging Face's reader models __metadata__ as an optional map, so null means "none".
            reader.nextNull();
            return;
        }
        if (t != JsonToken.BEGIN_OBJECT) {
            throw new SafetensorsFormatException(
                    file, "__metadata__ is " + t + ", expected an object of string values");
        }
        reader.beginObject();
        while (reader.hasNext()) {
            String key = reader.nextName();
            if (reader.peek() != JsonToken.STRING) {
                throw new SafetensorsFormatException(
                        file,
                        "__metadata__ entry '"
                                + key
                                + "' is "
                                + reader.peek()
                                + ", expected a string");
            }
            if (out.put(key, reader.nextString()) != null) {
                throw new SafetensorsFormatException(
                        file, "duplicate key '" + key + "' in __metadata__");
            }
        }
        reader.endObject();
    }

    private static TensorInfo readTensor(Path file, JsonReader reader, String name)
            throws IOException {
        String where = "tensor '" + name + "'";
        if (reader.peek() != JsonToken.BEGIN_OBJECT) {
            throw new SafetensorsFormatException(
                    file, where + ": entry is " + reader.peek() + ", expected an object");
        }
        reader.beginObject();
        SafetensorsDType dtype = null;
        long[] shape = null;
        long[] offsets = null;
        Set<String> seen = new HashSet<>();
        while (reader.hasNext()) {
            String key = reader.nextName();
            if (!seen.add(key)) {
                throw new SafetensorsFormatException(file, where + ": duplicate key '" + key + "'");
            }
            switch (key) {
                case "dtype":
                    if (reader.peek() != JsonToken.STRING) {
                        throw new SafetensorsFormatException(
                                file,
                                where + ": dtype is " + reader.peek() + ", expected a string");
                    }
                    String s = reader.nextString();
                    try {
                        dtype = SafetensorsDType.fromHeader(s);
                    } catch (IllegalArgumentException e) {
                        throw new SafetensorsFormatException(file, where + ": " + e.getMessage());
                    }
                    break;
                case "shape":
                    shape = readLongArray(file, reader, where + ": shape", -1);
                    break;
                case "data_offsets":
                    offsets = readLongArray(file, reader, where + ": data_offsets", 2);
                    break;
                default:
                    // Hugging Face's reader ignores unknown fields; so do we, for compatibility.
                    reader.skipValue();
            }
        }
        reader.endObject();
        if (dtype == null) {
            throw new SafetensorsFormatException(file, where + ": missing \"dtype\"");
        }
        if (shape == null) {
            throw new SafetensorsFormatException(file, where + ": missing \"shape\"");
        }
        if (offsets == null) {
            throw new SafetensorsFormatException(file, where + ": missing \"data_offsets\"");
        }
        if (offsets[0] > offsets[1]) {
            throw new SafetensorsFormatException(
                    file,
                    where
                            + ": data_offsets ["
                            + offsets[0]
                            + ", "
                            + offsets[1]
                            + "] have begin > end");
        }
        return new TensorInfo(name, dtype, shape, offsets[0], offsets[1]);
    }

    /** Reads an array of non-negative integers; {@code exactLength} -1 means any length. */
    private static long[] readLongArray(Path file, JsonReader reader, String what, int exactLength)
            throws IOException {
        if (reader.peek() != JsonToken.BEGIN_ARRAY) {
            throw new SafetensorsFormatException(
                    file, what + " is " + reader.peek() + ", expected an array of integers");
        }
        reader.beginArray();
        List<Long> values = new ArrayList<>();
        while (reader.hasNext()) {
            if (values.size() >= 64) {
                // No tensor has 64 dimensions; a huge array here is garbage, stop reading early.
                throw new SafetensorsFormatException(file, what + " has more than 64 entries");
            }
            values.add(readNonNegativeLong(file, reader, what));
        }
        reader.endArray();
        if (exactLength >= 0 && values.size() != exactLength) {
            throw new SafetensorsFormatException(
                    file, what + " has " + values.size() + " entries, expected " + exactLength);
        }
        long[] out = new long[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        return out;
    }

    private static long readNonNegativeLong(Path file, JsonReader reader, String what)
            throws IOException {
        if (reader.peek() != JsonToken.NUMBER) {
            // Not nextLong(): it would also accept "12" in quotes.
            throw new SafetensorsFormatException(
                    file,
                    what + " contains " + reader.peek() + ", expected a non-negative integer");
        }
        String literal = reader.nextString();
        if (literal.startsWith("-")) {
            throw new SafetensorsFormatException(
                    file, what + " contains negative value " + literal);
        }
        for (int i = 0; i < literal.length(); i++) {
            char c = literal.charAt(i);
            if (c < '0' || c > '9') {
                throw new SafetensorsFormatException(
                        file, what + " contains non-integer value " + literal);
            }
        }
        try {
            return Long.parseLong(literal);
        } catch (NumberFormatException e) {
            throw new SafetensorsFormatException(
                    file, what + " contains value " + literal + ", larger than 2^63-1");
        }
    }

    private static void checkEntry(Path file, TensorInfo info, long dataLength)
            throws SafetensorsFormatException {
        String where = "tensor '" + info.name() + "'";
        String offsets = "data_offsets [" + info.begin() + ", " + info.end() + "]";
        if (info.end() > dataLength) {
            throw new SafetensorsFormatException(
                    file,
                    where
                            + ": "
                            + offsets
                            + " run past the data region of "
                            + dataLength
                            + " bytes");
        }
        long bytes;
        try {
            bytes = Math.multiplyExact(info.numel(), info.dtype().byteSize());
        } catch (ArithmeticException e) {
            throw new SafetensorsFormatException(
                    file,
                    where
                            + ": shape "
                            + Arrays.toString(info.shape())
                            + " of "
                            + info.dtype()
                            + " needs more than 2^63-1 bytes");
        }
        if (bytes != info.byteLength()) {
            throw new SafetensorsFormatException(
                    file,
                    where
                            + ": shape "
                            + Arrays.toString(info.shape())
                            + " of "
                            + info.dtype()
                            + " needs "
                            + bytes
                            + " bytes but "
                            + offsets
                            + " span "
                            + info.byteLength());
        }
    }

    /** The ranges, sorted, must cover [0, dataLength) exactly: no overlap, no hole, no tail. */
    private static void checkTiling(Path file, Iterable<TensorInfo> infos, long dataLength)
            throws SafetensorsFormatException {
        List<TensorInfo> sorted = new ArrayList<>();
        infos.forEach(sorted::add);
        sorted.sort(
                Comparator.comparingLong(TensorInfo::begin)
                        .thenComparingLong(TensorInfo::end)
                        .thenComparing(TensorInfo::name));
        long expected = 0;
        TensorInfo previous = null;
        for (TensorInfo info : sorted) {
            if (info.begin() < expected) {
                throw new SafetensorsFormatException(
                        file,
                        "tensors '"
                                + previous.name()
                                + "' ["
                                + previous.begin()
                                + ", "
                                + previous.end()
                                + "] and '"
                                + info.name()
                                + "' ["
                                + info.begin()
                                + ", "
                                + info.end()
                                + "] overlap");
            }
            if (info.begin() > expected) {
                String before =
                        previous == null
                                ? "the start of the data region"
                                : "tensor '" + previous.name() + "' (ends at " + expected + ")";
                throw new SafetensorsFormatException(
                        file,
                        "hole of "
                                + (info.begin() - expected)
                                + " bytes between "
                                + before
                                + " and tensor '"
                                + info.name()
                                + "' (begins at "
                                + info.begin()
                                + ")");
            }
            expected = info.end();
            previous = info;
        }
        if (expected != dataLength) {
            throw new SafetensorsFormatException(
                    file,
                    (dataLength - expected)
                            + " unused bytes after the last tensor (tensors end at "
                            + expected
                            + ", data region is "
                            + dataLength
                            + " bytes)");
        }
    }
}
