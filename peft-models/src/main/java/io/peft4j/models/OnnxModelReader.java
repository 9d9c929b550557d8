package io.peft4j.models;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the parts of an ONNX file needed to import weights: the graph's nodes (name, op type,
 * inputs, outputs) and its initializers (name, type, dims, data). A small hand-written reader of
 * the protobuf wire format (field numbers from onnx.proto), so no protobuf dependency.
 */
final class OnnxModelReader {

    /** ONNX TensorProto.DataType values this reader handles. */
    static final int FLOAT = 1;

    static final int INT32 = 6;
    static final int INT64 = 7;
    static final int FLOAT16 = 10;
    static final int DOUBLE = 11;
    static final int BFLOAT16 = 16;

    /** A graph node. */
    record Node(String name, String opType, List<String> inputs, List<String> outputs) {}

    /** An initializer; {@code data} is little-endian raw bytes (or the packed typed field). */
    record Initializer(
            String name,
            int dataType,
            long[] dims,
            ByteBuffer data,
            boolean typedFloats,
            boolean typedInt64) {}

    /** The graph. */
    record Graph(List<Node> nodes, List<Initializer> initializers) {}

    private OnnxModelReader() {}

    static Graph read(Path file) {
        ByteBuffer buf;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(
                        file
                                + ": "
                                + size
                                + " bytes; ONNX files over 2 GiB keep weights as external data, which is not supported");
            }
            buf = ch.map(FileChannel.MapMode.READ_ONLY, 0, size).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + file, e);
        }
        try {
            return parseModel(buf);
        } catch (MalformedException | IndexOutOfBoundsException | IllegalStateException e) {
            throw new IllegalArgumentException(
                    file + " is not an ONNX model: " + e.getMessage(), e);
        }
    }

    private static final class MalformedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        MalformedException(String message) {
            super(message);
        }
    }

    private static Graph parseModel(ByteBuffer buf) {
        Wire w = new Wire(buf, 0, buf.limit());
        boolean sawIrVersion = false;
        ByteBuffer graph = null;
        while (w.more()) {
            int tag = w.tag();
            int field = tag >>> 3;
            if (field == 1 && (tag & 7) == 0) {
                long v = w.varint();
                sawIrVersion = v > 0 && v < 100;
            } else if (field == 7 && (tag & 7) == 2) {
                graph = w.bytes();
            } else {
                w.skip(tag);
            }
        }
        if (!sawIrVersion || graph == null) {
            throw new MalformedException(
                    "no ir_version/graph fields (found "
                            + (sawIrVersion ? "ir_version" : "no ir_version")
                            + ", "
                            + (graph == null ? "no graph" : "a graph")
                            + ")");
        }
        return parseGraph(graph);
    }

    private static Graph parseGraph(ByteBuffer buf) {
        Wire w = new Wire(buf, 0, buf.limit());
        List<Node> nodes = new ArrayList<>();
        List<Initializer> inits = new ArrayList<>();
        while (w.more()) {
            int tag = w.tag();
            int field = tag >>> 3;
            if (field == 1 && (tag & 7) == 2) {
                nodes.add(parseNode(w.bytes()));
            } else if (field == 5 && (tag & 7) == 2) {
                inits.add(parseTensor(w.bytes()));
            } else {
                w.skip(tag);
            }
        }
        return new Graph(nodes, inits);
    }

    private static Node parseNode(ByteBuffer buf) {
        Wire w = new Wire(buf, 0, buf.limit());
        List<String> in = new ArrayList<>();
        List<String> out = new ArrayList<>();
        String name = "";
        String op = "";
        while (w.more()) {
            int tag = w.tag();
            switch (tag >>> 3) {
                case 1:
                    in.add(w.string());
                    break;
                case 2:
                    out.add(w.string());
                    break;
                case 3:
                    name = w.string();
                    break;
                case 4:
                    op = w.string();
                    break;
                default:
                    w.skip(tag);
            }
        }
        return new Node(name, op, in, out);
    }

    private static Initializer parseTensor(ByteBuffer buf) {
        Wire w = new Wire(buf, 0, buf.limit());
        List<Long> dims = new ArrayList<>();
        int type = 0;
        String name = "";
        ByteBuffer raw = null;
        ByteBuffer floats = null;
        ByteBuffer int64s = null;
        boolean external = false;
        while (w.more()) {
            int tag = w.tag();
            int field = tag >>> 3;
            if (field == 1) {
                if ((tag & 7) == 2) {
                    Wire packed = w.sub();
                    while (packed.more()) {
                        dims.add(packed.varint());
                    }
                } else {
                    dims.add(w.varint());
                }
            } else if (field == 2 && (tag & 7) == 0) {
                type = (int) w.varint();
            } else if (field == 4 && (tag & 7) == 2) {
                floats = w.bytes();
            } else if (field == 7 && (tag & 7) == 2) {
                int64s = w.packedVarints();
            } else if (field == 8) {
                name = w.string();
            } else if (field == 9) {
                raw = w.bytes();
            } else if (field == 13) {
                external = true;
                w.skip(tag);
            } else if (field == 14 && (tag & 7) == 0) {
                external |= w.varint() == 1;
            } else {
                w.skip(tag);
            }
        }
        if (external) {
            throw new IllegalStateException(
                    "initializer '"
                            + name
                            + "' keeps its data in an external file, which is not supported");
        }
        long[] d = dims.stream().mapToLong(Long::longValue).toArray();
        if (raw != null) {
            return new Initializer(name, type, d, raw, false, false);
        }
        if (floats != null) {
            return new Initializer(name, type, d, floats, true, false);
        }
        return new Initializer(
                name, type, d, int64s == null ? ByteBuffer.allocate(0) : int64s, false, true);
    }

    /**
     * Counts the packed varints in {@code packed} without allocating.
     *
     * <p>Throws the reader's MalformedException (which {@link #read} reports as not ONNX) if the
     * last varint is cut off or longer than 10 bytes.
     */
    static long varintCount(ByteBuffer packed) {
        Wire w = new Wire(packed, 0, packed.limit());
        long n = 0;
        while (w.more()) {
            w.varint();
            n++;
        }
        return n;
    }

    /**
     * Decodes {@code out.length} packed varints (counted by {@link #varintCount}) into {@code out}.
     */
    static void decodeVarints(ByteBuffer packed, long[] out) {
        Wire w = new Wire(packed, 0, packed.limit());
        for (int i = 0; i < out.length; i++) {
            out[i] = w.varint();
        }
    }

    /** A cursor over one protobuf message. */
    private static final class Wire {
        private final ByteBuffer buf;
        private int pos;
        private final int end;

        Wire(ByteBuffer buf, int pos, int end) {
            this.buf = buf;
            this.pos = pos;
            this.end = end;
        }

        boolean more() {
            return pos < end;
        }

        int tag() {
            long t = varint();
            if (t == 0 || (t & 7) == 3 || (t & 7) == 4 || (t & 7) > 5) {
                throw new MalformedException("bad protobuf tag " + t + " at byte " + pos);
            }
            return (int) t;
        }

        long varint() {
            long result = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= end) {
                    throw new MalformedException("truncated varint at byte " + pos);
                }
                byte b = buf.get(pos++);
                result |= (long) (b & 0x7f) << shift;
                if ((b & 0x80) == 0) {
                    return result;
                }
            }
            throw new MalformedException("varint longer than 10 bytes at byte " + pos);
        }

        ByteBuffer bytes() {
            long len = varint();
            if (len < 0 || pos + len > end) {
                throw new MalformedException(
                        "field of length "
                                + len
                                + " at byte "
                                + pos
                                + " runs past its message end "
                                + end);
            }
            ByteBuffer slice = buf.duplicate().order(ByteOrder.LITTLE_ENDIAN);
            slice.position(pos).limit(pos + (int) len);
            pos += (int) len;
            return slice.slice().order(ByteOrder.LITTLE_ENDIAN);
        }

        Wire sub() {
            ByteBuffer b = bytes();
            return new Wire(b, 0, b.limit());
        }

        String string() {
            ByteBuffer b = bytes();
            byte[] arr = new byte[b.remaining()];
            b.get(arr);
            return new String(arr, StandardCharsets.UTF_8);
        }

        /** The packed varints, validated but not decoded (see {@link #decodeVarints}). */
        ByteBuffer packedVarints() {
            ByteBuffer b = bytes();
            varintCount(b);
            return b;
        }

        void skip(int tag) {
            switch (tag & 7) {
                case 0:
                    varint();
                    break;
                case 1:
                    pos += 8;
                    break;
                case 2:
                    bytes();
                    break;
                case 5:
                    pos += 4;
                    break;
                default:
                    throw new MalformedException(
                            "unsupported wire type " + (tag & 7) + " at byte " + pos);
            }
            if (pos > end) {
                throw new MalformedException("field runs past its message end at byte " + pos);
            }
        }
    }
}
