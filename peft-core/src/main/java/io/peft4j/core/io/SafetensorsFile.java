package io.peft4j.core.io;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A safetensors file opened for reading. {@link #open} reads and validates the whole header up
 * front, so every later {@link #load} of a listed tensor succeeds (barring I/O errors or the file
 * being changed underneath). Files and tensors larger than 2 GiB work and nothing is read that is
 * not asked for.
 *
 * <p>{@link #load} streams a tensor's bytes straight into the memory of a new engine-owned array,
 * in bounded pieces (BF16 and I16 widened in Java on the way), so loading a checkpoint needs the
 * arrays' memory and a few MiB, not a second copy of each tensor. An array never points into the
 * file and survives {@link #close()}. A file is safe to share between threads (loads from one file
 * take turns).
 *
 * <pre>{@code
 * try (SafetensorsFile f = SafetensorsFile.open(path); NDManager m = NDManager.newBaseManager()) {
 *     NDArray w = f.load("model.layers.0.self_attn.q_proj.weight", m);
 * }
 * }</pre>
 */
public final class SafetensorsFile implements AutoCloseable {

    /** Hugging Face's reader rejects headers above this size as well. */
    static final long MAX_HEADER_BYTES = 100_000_000L;

    /**
     * Largest part of an array filled through one direct buffer; larger tensors go by flat views.
     */
    private static final int DEFAULT_CHUNK_BYTES = 1 << 30;

    /** Largest piece read from the file at once for a 16-bit tensor (the scratch buffer's size). */
    private static final int READ_CHUNK_BYTES = 4 << 20;

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final SafetensorsHeader header;
    private final List<String> names;
    private final int chunkBytes;
    private volatile boolean closed;

    /**
     * Reused by every 16-bit load (guarded by {@code this}): bounded memory whatever the tensor
     * size.
     */
    private ByteBuffer scratch;

    private short[] shorts;
    private int[] ints;

    private SafetensorsFile(
            Path path,
            FileChannel channel,
            long dataStart,
            SafetensorsHeader header,
            int chunkBytes) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.header = header;
        this.names = List.copyOf(header.tensors.keySet());
        this.chunkBytes = chunkBytes;
    }

    /**
     * Opens and validates {@code file}.
     *
     * @param file a safetensors file
     * @return the open file; close it
     * @throws SafetensorsFormatException if the file is not a well-formed safetensors file (the
     *     message names the file and the problem)
     * @throws IOException if the file cannot be read
     */
    public static SafetensorsFile open(Path file) throws IOException {
        return open(file, DEFAULT_CHUNK_BYTES);
    }

    /** As {@link #open(Path)}, with a smaller chunk size so tests can exercise chunked reads. */
    static SafetensorsFile open(Path file, int chunkBytes) throws IOException {
        Objects.requireNonNull(file, "file");
        if (chunkBytes < 8 || chunkBytes % 8 != 0) {
            throw new IllegalArgumentException(
                    "chunkBytes must be a positive multiple of 8, got " + chunkBytes);
        }
        FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
        try {
            long size = channel.size();
            if (size < 8) {
                throw new SafetensorsFormatException(
                        file,
                        "file is " + size + " bytes, shorter than the 8-byte header length prefix");
            }
            ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, prefix, 0);
            long headerLength = prefix.getLong(0);
            // Checked before any allocation: the number comes from the file and may be anything.
            if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
                throw new SafetensorsFormatException(
                        file,
                        "header length "
                                + Long.toUnsignedString(headerLength)
                                + " is absurd (limit "
                                + MAX_HEADER_BYTES
                                + " bytes)");
            }
            if (headerLength > size - 8) {
                throw new SafetensorsFormatException(
                        file,
                        "header length "
                                + headerLength
                                + " runs past the end of the file ("
                                + size
                                + " bytes, at most "
                                + (size - 8)
                                + " available for the header)");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLength);
            readFully(channel, header, 8);
            long dataStart = 8 + headerLength;
            SafetensorsHeader parsed =
                    SafetensorsHeader.parse(file, header.array(), size - dataStart);
            return new SafetensorsFile(file, channel, dataStart, parsed, chunkBytes);
        } catch (IOException | RuntimeException | Error e) {
            try {
                channel.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /**
     * Returns the file this was opened from.
     *
     * @return the path
     */
    public Path path() {
        return path;
    }

    /**
     * Returns the header's {@code __metadata__} map, unmodifiable; empty if the file has none.
     *
     * @return the metadata
     */
    public Map<String, String> metadata() {
        return header.metadata;
    }

    /**
     * Returns the tensor names, sorted, unmodifiable.
     *
     * @return the names
     */
    public List<String> names() {
        return names;
    }

    /**
     * Returns whether the file has a tensor named {@code name}.
     *
     * @param name a tensor name
     * @return true if {@link #info(String)} would succeed
     */
    public boolean contains(String name) {
        return header.tensors.containsKey(name);
    }

    /**
     * Returns the header entry of tensor {@code name}.
     *
     * @param name a tensor name
     * @return its dtype, shape and byte range
     * @throws IllegalArgumentException if there is no such tensor; the message names the file and a
     *     few of the names it has
     */
    public TensorInfo info(String name) {
        TensorInfo info = header.tensors.get(name);
        if (info == null) {
            List<String> some = names.subList(0, Math.min(5, names.size()));
            throw new IllegalArgumentException(
                    path
                            + ": no tensor named '"
                            + name
                            + "'; the file has "
                            + names.size()
                            + " tensors"
                            + (names.isEmpty() ? "" : ", e.g. " + some));
        }
        return info;
    }

    /**
     * Loads tensor {@code name} into a new array of {@code manager}, named {@code name}. The
     * array's type is {@link SafetensorsDType#engineType()}: BF16 arrives as FLOAT32 and I16 as
     * INT32 (widened exactly, in Java, because DJL cannot hold those types); F16 stays FLOAT16 and
     * BOOL becomes BOOLEAN (any non-zero byte is true).
     *
     * @param name a tensor name
     * @param manager owns the new array; its device is where the array lives
     * @return the array; the caller (or the manager) closes it
     * @throws IllegalArgumentException if there is no such tensor
     * @throws IllegalStateException if this file is closed
     * @throws UncheckedIOException if reading fails
     */
    public NDArray load(String name, NDManager manager) {
        Objects.requireNonNull(manager, "manager");
        TensorInfo info = info(name);
        ensureOpen();
        NDArray array;
        if (manager.getDevice().equals(Device.cpu())) {
            array = loadOnCpu(info, manager);
        } else {
            // The bytes are written through the CPU array's own memory: fill one tensor on the
            // CPU, move it, free the CPU copy (one tensor's worth of transient memory).
            try (NDManager host =
                    NDManager.newBaseManager(Device.cpu(), manager.getEngine().getEngineName())) {
                array = loadOnCpu(info, host).toDevice(manager.getDevice(), true);
                array.attach(manager);
            }
        }
        array.setName(name);
        return array;
    }

    /**
     * The tensor in a new engine-owned CPU array of its engine type. The file's bytes go straight
     * into the array's memory (a direct buffer over the tensor, DJL's {@code toByteBuffer(true)}):
     * read in pieces of at most {@code chunkBytes} through one reusable buffer and, for BF16 and
     * I16, widened on the way. No whole-tensor copy is made on the Java side, no memory map is left
     * behind (mapped pages would count in the resident set until a GC unmaps them), and the array
     * needs no {@code duplicate()}.
     */
    private NDArray loadOnCpu(TensorInfo info, NDManager manager) {
        DataType type = info.dtype().engineType();
        NDArray array = manager.create(new Shape(info.shape()), type); // uninitialised
        try {
            long numel = info.numel();
            int outSize = type.getNumOfBytes();
            // a direct buffer holds at most 2^31 - 1 bytes: bigger tensors go through flat views
            long perSlice = Math.max(1, Math.min(chunkBytes, Integer.MAX_VALUE - 7) / outSize);
            if (numel <= perSlice) {
                fillFrom(info, 0, (int) numel, array);
            } else {
                try (NDArray flat = array.reshape(-1)) {
                    for (long first = 0; first < numel; first += perSlice) {
                        int count = (int) Math.min(perSlice, numel - first);
                        try (NDArray slice = flat.get(new NDIndex("{}:{}", first, first + count))) {
                            fillFrom(info, first, count, slice);
                        }
                    }
                }
            }
            return array;
        } catch (RuntimeException | Error e) {
            array.close();
            throw e;
        }
    }

    /**
     * Writes elements [first, first+count) of {@code info}, converted, into contiguous {@code
     * target}.
     */
    private void fillFrom(TensorInfo info, long first, int count, NDArray target) {
        if (count == 0) {
            return;
        }
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new UnsupportedOperationException("big-endian platforms are not supported");
        }
        SafetensorsDType dtype = info.dtype();
        long outBytes = (long) count * dtype.engineType().getNumOfBytes();
        ByteBuffer dst = target.toByteBuffer(true);
        if (!dst.isDirect() || dst.capacity() != outBytes) {
            // toByteBuffer(true) copies instead of exposing the tensor for a non-contiguous or
            // non-CPU array; writing there would be lost
            throw new IllegalStateException(
                    path
                            + ": tensor '"
                            + info.name()
                            + "': the engine did not"
                            + " expose the array's memory ("
                            + (dst.isDirect() ? dst.capacity() + " bytes" : "a copy")
                            + " for "
                            + outBytes
                            + " bytes)");
        }
        dst.order(ByteOrder.LITTLE_ENDIAN);
        HugePages.advise(dst); // before the first write: fewer page faults
        int inSize = dtype.byteSize();
        long position = dataStart + info.begin() + first * inSize;
        synchronized (this) {
            ensureOpen();
            try {
                switch (dtype) {
                    case BF16:
                    case I16:
                        widen16(info, position, count, dst, dtype == SafetensorsDType.BF16);
                        break;
                    case BOOL:
                        readAt(info, dst, position);
                        for (int i = 0; i < count; i++) {
                            dst.put(i, dst.get(i) != 0 ? (byte) 1 : (byte) 0);
                        }
                        break;
                    default:
                        readAt(info, dst, position); // same bytes in the file and in the array
                }
            } catch (IOException e) {
                throw new UncheckedIOException(
                        path + ": cannot read tensor '" + info.name() + "'", e);
            }
        }
    }

    /**
     * BF16 (the top half of an F32) or I16 (sign-extended), read in pieces into the reusable
     * scratch buffer and widened into the 32-bit {@code dst}.
     */
    private void widen16(TensorInfo info, long position, int count, ByteBuffer dst, boolean bf16)
            throws IOException {
        int piece = readChunkBytes() / 2;
        ByteBuffer scratch = scratch();
        IntBuffer out = dst.asIntBuffer();
        for (int done = 0; done < count; done += piece) {
            int n = Math.min(piece, count - done);
            scratch.clear().limit(n * 2);
            readAt(info, scratch, position + 2L * done);
            scratch.flip();
            scratch.asShortBuffer().get(shorts, 0, n);
            if (bf16) {
                for (int i = 0; i < n; i++) {
                    ints[i] = shorts[i] << 16;
                }
            } else {
                for (int i = 0; i < n; i++) {
                    ints[i] = shorts[i];
                }
            }
            out.put(done, ints, 0, n);
        }
    }

    /** The reusable read buffer and its two heap arrays, made on the first 16-bit load. */
    private ByteBuffer scratch() {
        if (scratch == null) {
            int bytes = readChunkBytes();
            scratch = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
            shorts = new short[bytes / 2];
            ints = new int[bytes / 2];
        }
        return scratch;
    }

    private int readChunkBytes() {
        return Math.min(chunkBytes, READ_CHUNK_BYTES);
    }

    /** Fills {@code buffer} (position to limit) from the file at {@code position}. */
    private void readAt(TensorInfo info, ByteBuffer buffer, long position) throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position);
            if (n < 0) {
                throw new SafetensorsFormatException(
                        path,
                        "file shrank after it was opened; tensor '"
                                + info.name()
                                + "' is no longer complete");
            }
            position += n;
        }
    }

    /**
     * Loads a floating-point tensor (F64, F32, F16 or BF16) as a flat {@code float[]} in row-major
     * order; F64 is rounded to float, the 16-bit types are widened exactly. Needs no engine.
     *
     * @param name a tensor name
     * @return the values
     * @throws IllegalArgumentException if there is no such tensor, it is not floating-point, or it
     *     has more elements than a Java array holds
     * @throws IllegalStateException if this file is closed
     * @throws UncheckedIOException if reading fails
     */
    public float[] loadFloats(String name) {
        TensorInfo info = info(name);
        SafetensorsDType dtype = info.dtype();
        if (!dtype.isFloatingPoint()) {
            throw new IllegalArgumentException(
                    path
                            + ": tensor '"
                            + name
                            + "' is "
                            + dtype
                            + ", expected a floating-point dtype (F64, F32, F16, BF16)");
        }
        long numel = info.numel();
        if (numel > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(
                    path
                            + ": tensor '"
                            + name
                            + "' has "
                            + numel
                            + " elements, more than a float[] holds");
        }
        ensureOpen();
        float[] out = new float[(int) numel];
        long perChunk = chunkBytes / dtype.byteSize();
        for (long first = 0; first < numel; first += perChunk) {
            int count = (int) Math.min(perChunk, numel - first);
            ByteBuffer src = map(info, first, count);
            int at = (int) first;
            switch (dtype) {
                case F32:
                    src.asFloatBuffer().get(out, at, count);
                    break;
                case F64:
                    for (int i = 0; i < count; i++) {
                        out[at + i] = (float) src.getDouble(i * 8);
                    }
                    break;
                case F16:
                    for (int i = 0; i < count; i++) {
                        out[at + i] = HalfFloats.f16ToFloat(src.getShort(i * 2));
                    }
                    break;
                case BF16:
                    for (int i = 0; i < count; i++) {
                        out[at + i] = HalfFloats.bf16ToFloat(src.getShort(i * 2));
                    }
                    break;
                default:
                    throw new AssertionError(dtype);
            }
        }
        return out;
    }

    /**
     * Closes the file. Arrays already loaded stay valid; later loads throw {@link
     * IllegalStateException}.
     */
    @Override
    public void close() {
        closed = true;
        try {
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": close failed", e);
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + names.size() + " tensors]";
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException(path + ": file is closed");
        }
    }

    /** Maps elements [first, first+count) of {@code info}, little-endian. */
    private ByteBuffer map(TensorInfo info, long first, int count) {
        int size = info.dtype().byteSize();
        long position = dataStart + info.begin() + first * size;
        long length = (long) count * size;
        try {
            if (position + length > channel.size()) {
                throw new SafetensorsFormatException(
                        path,
                        "file shrank after it was opened; tensor '"
                                + info.name()
                                + "' is no longer complete");
            }
            return channel.map(FileChannel.MapMode.READ_ONLY, position, length)
                    .order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot read tensor '" + info.name() + "'", e);
        }
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position)
            throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) {
                throw new EOFException("unexpected end of file");
            }
        }
    }
}
