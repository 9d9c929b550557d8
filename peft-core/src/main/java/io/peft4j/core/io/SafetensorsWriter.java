package io.peft4j.core.io;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Writes safetensors files the way Hugging Face's {@code safetensors} library does, so that its
 * readers (Python, Rust, candle, ...) load them: an 8-byte little-endian header length, a compact
 * JSON header that always has {@code __metadata__} (at least {@code {"format":"pt"}}), padded with
 * spaces to a multiple of 8 bytes, then the tensors' bytes back to back in sorted-name order.
 *
 * <p>(Hugging Face's recent versions order the data by dtype size first, for alignment, and by name
 * second; for files of one dtype the two layouts are byte-identical, and every reader accepts
 * both.)
 *
 * <p>Tensor bytes are streamed in bounded pieces, never gathered in one buffer, and the file is
 * replaced atomically ({@link AtomicFiles}).
 */
public final class SafetensorsWriter {

    /** Arrays larger than this are copied out of the engine in flat slices of this size. */
    static final long DEFAULT_CHUNK_BYTES = 64L << 20;

    private SafetensorsWriter() {}

    /**
     * Writes {@code tensors} (by name) and {@code metadata} to {@code file}, replacing it
     * atomically. Arrays may live on any device; they are not modified or closed.
     *
     * @param file the file to create or replace
     * @param tensors the arrays by name; a name may be any string except {@code "__metadata__"}.
     *     Supported types: FLOAT64, FLOAT32, FLOAT16, INT64, INT32, INT8, UINT8, BOOLEAN
     * @param metadata extra {@code __metadata__} entries (may be null or empty); they are merged
     *     over {@code {"format":"pt"}}, so a caller's own {@code "format"} wins
     * @throws IllegalArgumentException for a reserved or null name, a null or unsupported array, or
     *     null metadata keys/values, before anything is written
     * @throws IOException if writing fails; {@code file} is then unchanged
     */
    public static void write(Path file, Map<String, NDArray> tensors, Map<String, String> metadata)
            throws IOException {
        write(file, tensors, metadata, DEFAULT_CHUNK_BYTES);
    }

    /** As {@link #write(Path, Map, Map)} with a chosen slice size, so tests reach the slicing. */
    static void write(
            Path file, Map<String, NDArray> tensors, Map<String, String> metadata, long chunkBytes)
            throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(tensors, "tensors");
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            // Engine bytes are copied as they are; safetensors is little-endian.
            throw new UnsupportedOperationException("big-endian platforms are not supported");
        }
        TreeMap<String, NDArray> sorted = new TreeMap<>();
        TreeMap<String, SafetensorsDType> dtypes = new TreeMap<>();
        for (Map.Entry<String, NDArray> e : tensors.entrySet()) {
            String name = e.getKey();
            NDArray array = e.getValue();
            if (name == null) {
                throw new IllegalArgumentException("tensor names must not be null");
            }
            if (name.equals(SafetensorsHeader.METADATA_KEY)) {
                throw new IllegalArgumentException(
                        "tensor name '__metadata__' is reserved for the header's metadata");
            }
            if (array == null) {
                throw new IllegalArgumentException("tensor '" + name + "' is null");
            }
            if (array.isReleased()) {
                throw new IllegalArgumentException("tensor '" + name + "' is already closed");
            }
            try {
                dtypes.put(name, SafetensorsDType.fromEngineType(array.getDataType()));
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException("tensor '" + name + "': " + ex.getMessage(), ex);
            }
            sorted.put(name, array);
        }
        byte[] header = header(mergedMetadata(metadata), sorted, dtypes);
        AtomicFiles.write(
                file,
                out -> {
                    writeHeader(out, header);
                    byte[] scratch = new byte[1 << 16];
                    for (Map.Entry<String, NDArray> e : sorted.entrySet()) {
                        NDArray array = e.getValue();
                        long bytes = array.size() * dtypes.get(e.getKey()).byteSize();
                        writeData(out, e.getKey(), array, bytes, chunkBytes, scratch);
                    }
                });
    }

    /**
     * The bytes of one tensor, produced on demand: {@link #writeStreamed} calls it once, in file
     * order, so a tensor never has to exist in memory as a whole.
     */
    @FunctionalInterface
    public interface TensorBytes {
        /**
         * Writes exactly the tensor's bytes (little-endian, row-major).
         *
         * @param out where they go; do not close it
         * @throws IOException if writing fails
         */
        void writeTo(OutputStream out) throws IOException;
    }

    /**
     * A tensor to write with {@link #writeStreamed}: its dtype, shape and a producer of its bytes.
     */
    public static final class StreamedTensor {
        final SafetensorsDType dtype;
        final long[] shape;
        final TensorBytes bytes;

        /**
         * @param dtype the dtype written in the header (any, BF16 included)
         * @param shape the shape; every dimension >= 0
         * @param bytes writes numel x dtype size bytes when called
         */
        public StreamedTensor(SafetensorsDType dtype, long[] shape, TensorBytes bytes) {
            this.dtype = Objects.requireNonNull(dtype, "dtype");
            this.shape = shape.clone();
            this.bytes = Objects.requireNonNull(bytes, "bytes");
            for (long d : this.shape) {
                if (d < 0) {
                    throw new IllegalArgumentException(
                            "negative dimension in shape " + java.util.Arrays.toString(shape));
                }
            }
        }
    }

    /**
     * Writes tensors whose bytes are produced one tensor at a time (for example generated or
     * converted on the fly), replacing {@code file} atomically. The header is computed from the
     * shapes first; each producer is then called once, in sorted-name order, and must write exactly
     * its tensor's size, or the write fails and {@code file} is left unchanged.
     *
     * @param file the file to create or replace
     * @param tensors the tensors by name
     * @param metadata extra {@code __metadata__} entries, merged over {@code {"format":"pt"}}
     * @throws IOException if writing fails or a producer writes the wrong number of bytes
     */
    public static void writeStreamed(
            Path file, Map<String, StreamedTensor> tensors, Map<String, String> metadata)
            throws IOException {
        Objects.requireNonNull(file, "file");
        TreeMap<String, long[]> shapes = new TreeMap<>();
        TreeMap<String, SafetensorsDType> dtypes = new TreeMap<>();
        for (Map.Entry<String, StreamedTensor> e : tensors.entrySet()) {
            if (e.getKey() == null
                    || e.getKey().equals(SafetensorsHeader.METADATA_KEY)
                    || e.getValue() == null) {
                throw new IllegalArgumentException("bad tensor entry '" + e.getKey() + "'");
            }
            shapes.put(e.getKey(), e.getValue().shape);
            dtypes.put(e.getKey(), e.getValue().dtype);
        }
        byte[] header = headerOf(mergedMetadata(metadata), shapes, dtypes);
        AtomicFiles.write(
                file,
                out -> {
                    writeHeader(out, header);
                    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
                        long expected =
                                Math.multiplyExact(
                                        numel(e.getValue()),
                                        (long) dtypes.get(e.getKey()).byteSize());
                        CountingStream counted = new CountingStream(out);
                        tensors.get(e.getKey()).bytes.writeTo(counted);
                        if (counted.count != expected) {
                            throw new IOException(
                                    "tensor '"
                                            + e.getKey()
                                            + "': its producer wrote "
                                            + counted.count
                                            + " bytes, expected "
                                            + expected);
                        }
                    }
                });
    }

    private static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    private static SortedMap<String, String> mergedMetadata(Map<String, String> metadata) {
        TreeMap<String, String> meta = new TreeMap<>();
        meta.put("format", "pt");
        if (metadata != null) {
            for (Map.Entry<String, String> e : metadata.entrySet()) {
                if (e.getKey() == null || e.getValue() == null) {
                    throw new IllegalArgumentException(
                            "metadata keys and values must not be null, got "
                                    + e.getKey()
                                    + "="
                                    + e.getValue());
                }
                meta.put(e.getKey(), e.getValue());
            }
        }
        return meta;
    }

    /**
     * Counts what a producer writes, so a wrong size fails the write instead of corrupting the
     * file.
     */
    private static final class CountingStream extends java.io.FilterOutputStream {
        long count;

        CountingStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }

        @Override
        public void close() {
            // the file's stream stays open for the next tensor
        }
    }

    /**
     * Builds the padded header bytes. Package-private so tests can compare it with a header built
     * by hand.
     */
    static byte[] header(
            Map<String, String> metadata,
            Map<String, NDArray> sorted,
            Map<String, SafetensorsDType> dtypes) {
        TreeMap<String, long[]> shapes = new TreeMap<>();
        sorted.forEach((name, array) -> shapes.put(name, array.getShape().getShape()));
        return headerOf(metadata, shapes, dtypes);
    }

    private static byte[] headerOf(
            Map<String, String> metadata,
            SortedMap<String, long[]> shapes,
            Map<String, SafetensorsDType> dtypes) {
        StringBuilder json = new StringBuilder(64 + 96 * shapes.size());
        json.append("{\"__metadata__\":{");
        boolean first = true;
        for (Map.Entry<String, String> e : metadata.entrySet()) {
            if (!first) {
                json.append(',');
            }
            first = false;
            appendString(json, e.getKey());
            json.append(':');
            appendString(json, e.getValue());
        }
        json.append('}');
        long offset = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            SafetensorsDType dtype = dtypes.get(e.getKey());
            long[] shape = e.getValue();
            long bytes = Math.multiplyExact(numel(shape), (long) dtype.byteSize());
            json.append(',');
            appendString(json, e.getKey());
            json.append(":{\"dtype\":\"").append(dtype.name()).append("\",\"shape\":[");
            for (int i = 0; i < shape.length; i++) {
                if (i > 0) {
                    json.append(',');
                }
                json.append(shape[i]);
            }
            json.append("],\"data_offsets\":[")
                    .append(offset)
                    .append(',')
                    .append(offset + bytes)
                    .append("]}");
            offset += bytes;
        }
        json.append('}');
        byte[] raw = utf8(json);
        // Pad with spaces so the data starts 8-byte aligned (8 + header length is a multiple of 8).
        int padded = raw.length + (8 - raw.length % 8) % 8;
        byte[] out = new byte[padded];
        System.arraycopy(raw, 0, out, 0, raw.length);
        for (int i = raw.length; i < padded; i++) {
            out[i] = ' ';
        }
        return out;
    }

    private static byte[] utf8(CharSequence json) {
        try {
            ByteBuffer b =
                    StandardCharsets.UTF_8
                            .newEncoder()
                            .onMalformedInput(CodingErrorAction.REPORT)
                            .onUnmappableCharacter(CodingErrorAction.REPORT)
                            .encode(java.nio.CharBuffer.wrap(json));
            byte[] out = new byte[b.remaining()];
            b.get(out);
            return out;
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(
                    "a tensor name or metadata entry is not valid Unicode (lone surrogate)", e);
        }
    }

    /** JSON string escaping as serde_json does it (what Hugging Face's writer uses). */
    private static void appendString(StringBuilder json, String s) {
        json.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"':
                    json.append("\\\"");
                    break;
                case '\\':
                    json.append("\\\\");
                    break;
                case '\b':
                    json.append("\\b");
                    break;
                case '\f':
                    json.append("\\f");
                    break;
                case '\n':
                    json.append("\\n");
                    break;
                case '\r':
                    json.append("\\r");
                    break;
                case '\t':
                    json.append("\\t");
                    break;
                default:
                    if (c < 0x20) {
                        json.append(String.format("\\u%04x", (int) c));
                    } else {
                        json.append(c);
                    }
            }
        }
        json.append('"');
    }

    private static void writeData(
            OutputStream out,
            String name,
            NDArray array,
            long bytes,
            long chunkBytes,
            byte[] scratch)
            throws IOException {
        if (bytes <= chunkBytes) {
            copy(out, name, hostBytes(array), bytes, scratch);
            return;
        }
        // Engine -> JVM copies are limited to 2 GiB and would double the memory for a big array:
        // go through flat slices of chunkBytes instead.
        int elementSize = (int) (bytes / array.size());
        long perSlice = Math.max(1, chunkBytes / elementSize);
        long numel = array.size();
        try (NDArray flat = array.reshape(-1)) {
            for (long start = 0; start < numel; start += perSlice) {
                long end = Math.min(numel, start + perSlice);
                try (NDArray slice = flat.get(new NDIndex("{}:{}", start, end))) {
                    copy(out, name, hostBytes(slice), (end - start) * elementSize, scratch);
                }
            }
        }
    }

    /**
     * The array's bytes in a heap buffer. For an array off the CPU, DJL's {@code toByteBuffer()}
     * would leave its CPU copy attached to the array's manager (a leak per checkpoint when saving
     * during training); copying explicitly lets us close it.
     */
    private static ByteBuffer hostBytes(NDArray array) {
        if (array.getDevice().equals(Device.cpu())) {
            return array.toByteBuffer();
        }
        try (NDArray host = array.toDevice(Device.cpu(), true)) {
            return host.toByteBuffer();
        }
    }

    private static void copy(
            OutputStream out, String name, ByteBuffer data, long expected, byte[] scratch)
            throws IOException {
        if (data.remaining() != expected) {
            throw new IOException(
                    "tensor '"
                            + name
                            + "': engine returned "
                            + data.remaining()
                            + " bytes, expected "
                            + expected);
        }
        if (data.hasArray()) {
            out.write(data.array(), data.arrayOffset() + data.position(), data.remaining());
            return;
        }
        while (data.hasRemaining()) {
            int n = Math.min(scratch.length, data.remaining());
            data.get(scratch, 0, n);
            out.write(scratch, 0, n);
        }
    }

    /**
     * The 8-byte little-endian header length, then the header: the opening of every safetensors
     * file.
     */
    private static void writeHeader(java.io.OutputStream out, byte[] header)
            throws java.io.IOException {
        ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        length.putLong(header.length);
        out.write(length.array());
        out.write(header);
    }
}
