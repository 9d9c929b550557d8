package io.peft4j.models;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.peft4j.core.io.HalfFloats;
import io.peft4j.models.OnnxModelReader.Graph;
import io.peft4j.models.OnnxModelReader.Initializer;
import io.peft4j.models.OnnxModelReader.Node;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Imports the weights of a BERT exported to ONNX (as by {@code torch.onnx.export} or optimum) and
 * names them as Hugging Face does.
 *
 * <p>Named initializers keep their names ({@code encoder.layer.0.attention.self.query.bias}). The
 * exporter leaves Linear weights anonymous ({@code onnx::MatMul_787}, stored transposed, (in,
 * out)); each is named by following the graph: its {@code MatMul}'s output must feed an {@code Add}
 * whose other input is a named {@code <module>.bias}, and the weight becomes {@code
 * <module>.weight}, transposed to (out, in). Anything else is an error that names the initializer
 * and the nodes.
 */
public final class OnnxImport {

    private OnnxImport() {}

    /**
     * Reads the initializers of an ONNX BERT export under Hugging Face names.
     *
     * @param onnxFile the .onnx file
     * @param manager owns the returned arrays (float32, int64 for integer buffers)
     * @return tensors by Hugging Face name, sorted
     * @throws IllegalArgumentException if the file is not ONNX, keeps external data, or a weight
     *     cannot be named
     */
    public static Map<String, NDArray> readBertWeights(Path onnxFile, NDManager manager) {
        Graph graph = OnnxModelReader.read(onnxFile);
        Map<String, Initializer> inits = new LinkedHashMap<>();
        graph.initializers().forEach(i -> inits.put(i.name(), i));
        if (!inits.containsKey("embeddings.word_embeddings.weight")
                && !inits.containsKey("bert.embeddings.word_embeddings.weight")) {
            throw new IllegalArgumentException(
                    onnxFile
                            + " is not a BERT export: no initializer named "
                            + "embeddings.word_embeddings.weight (found "
                            + inits.size()
                            + " initializers, e.g. "
                            + inits.keySet().stream().limit(5).collect(Collectors.toList())
                            + ")");
        }
        Map<String, List<Node>> consumers = new HashMap<>();
        for (Node n : graph.nodes()) {
            for (String in : n.inputs()) {
                consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
            }
        }
        Map<String, NDArray> out = new TreeMap<>();
        try {
            for (Initializer init : inits.values()) {
                List<Node> users = consumers.getOrDefault(init.name(), List.of());
                boolean matMulWeight =
                        users.stream()
                                .anyMatch(
                                        n ->
                                                n.opType().equals("MatMul")
                                                        && n.inputs().indexOf(init.name()) == 1);
                String name = init.name();
                NDArray array;
                if (matMulWeight) {
                    name = linearName(onnxFile, init, users, consumers, inits);
                    array = transposed(init, manager, onnxFile);
                } else {
                    array = toArray(init, manager, onnxFile);
                }
                if (out.put(name, array) != null) {
                    throw new IllegalArgumentException(
                            onnxFile + ": two initializers map to " + name);
                }
            }
        } catch (RuntimeException e) {
            out.values().forEach(NDArray::close);
            throw e;
        }
        return out;
    }

    /**
     * Builds a {@link BertModel} (with a pooler when the export has one) and loads the export's
     * weights into it, strictly, by {@link HfCheckpoint}'s rules.
     *
     * @param onnxFile the .onnx file
     * @param config the architecture (ONNX files carry no config.json); its pooler flag is replaced
     *     by what the export contains
     * @param device where the weights go
     * @return a DJL model whose block is a {@link BertModel}; close it
     */
    public static Model loadBert(Path onnxFile, BertConfig config, Device device) {
        try (NDManager scratch = NDManager.newBaseManager(Device.cpu())) {
            Map<String, NDArray> tensors = readBertWeights(onnxFile, scratch);
            boolean pooler =
                    tensors.containsKey("pooler.dense.weight")
                            || tensors.containsKey("bert.pooler.dense.weight");
            MapTensorSource source = new MapTensorSource(tensors, onnxFile.toString());
            HfCheckpoint.checkFits(
                    config.minParameterCount(),
                    source,
                    "BERT config " + config,
                    onnxFile.toString());
            BertModel block = new BertModel(config.toBuilder().addPoolingLayer(pooler).build());
            return HfCheckpoint.loadInto(
                    block, source, onnxFile, device, DataType.FLOAT32, Set.of());
        }
    }

    private static String linearName(
            Path file,
            Initializer weight,
            List<Node> users,
            Map<String, List<Node>> consumers,
            Map<String, Initializer> inits) {
        String where = file + ": MatMul weight '" + weight.name() + "' " + shapeText(weight.dims());
        if (users.size() != 1) {
            throw new IllegalArgumentException(
                    where + " is used by " + users.size() + " nodes; expected one MatMul");
        }
        Node matMul = users.get(0);
        if (matMul.outputs().size() != 1) {
            throw new IllegalArgumentException(
                    where
                            + ": node '"
                            + matMul.name()
                            + "' has "
                            + matMul.outputs().size()
                            + " outputs; a MatMul has one");
        }
        List<Node> next = consumers.getOrDefault(matMul.outputs().get(0), List.of());
        for (Node add : next) {
            if (!add.opType().equals("Add")) {
                continue;
            }
            for (String in : add.inputs()) {
                Initializer bias = inits.get(in);
                if (bias != null
                        && in.endsWith(".bias")
                        && bias.dims().length == 1
                        && weight.dims().length == 2
                        && bias.dims()[0] == weight.dims()[1]) {
                    return in.substring(0, in.length() - ".bias".length()) + ".weight";
                }
            }
        }
        throw new IllegalArgumentException(
                where
                        + ": node '"
                        + matMul.name()
                        + "' feeds "
                        + next.stream()
                                .map(n -> n.opType() + " '" + n.name() + "'")
                                .collect(Collectors.toList())
                        + "; expected an Add with a named '<module>.bias' initializer of size "
                        + (weight.dims().length == 2 ? weight.dims()[1] : "?")
                        + " to name it by");
    }

    private static NDArray transposed(Initializer init, NDManager manager, Path file) {
        long[] d = init.dims();
        if (d.length != 2) {
            throw new IllegalArgumentException(
                    file
                            + ": MatMul weight '"
                            + init.name()
                            + "' has shape "
                            + shapeText(d)
                            + "; expected 2 dimensions");
        }
        float[] src = floats(init, file);
        int rows = Math.toIntExact(d[0]);
        int cols = Math.toIntExact(d[1]);
        float[] dst = new float[src.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                dst[c * rows + r] = src[r * cols + c];
            }
        }
        return manager.create(dst, new Shape(cols, rows));
    }

    private static NDArray toArray(Initializer init, NDManager manager, Path file) {
        switch (init.dataType()) {
            case OnnxModelReader.INT64:
                {
                    if (init.typedFloats()) {
                        throw new IllegalArgumentException(
                                file
                                        + ": initializer '"
                                        + init.name()
                                        + "' is INT64 but stores float_data");
                    }
                    if (init.typedInt64()) {
                        long[] v =
                                new long
                                        [count(
                                                init,
                                                OnnxModelReader.varintCount(init.data()),
                                                file)];
                        OnnxModelReader.decodeVarints(init.data(), v);
                        return manager.create(v, new Shape(init.dims()));
                    }
                    ByteBuffer b = init.data().duplicate().order(ByteOrder.LITTLE_ENDIAN);
                    long[] v =
                            new long
                                    [count(
                                            init,
                                            exactElements(init, b.remaining(), 8, file),
                                            file)];
                    b.asLongBuffer().get(v);
                    return manager.create(v, new Shape(init.dims()));
                }
            case OnnxModelReader.INT32:
                {
                    if (init.typedFloats() || init.typedInt64()) {
                        throw new IllegalArgumentException(
                                file
                                        + ": initializer '"
                                        + init.name()
                                        + "' stores INT32 in a typed field; only raw_data is supported for it");
                    }
                    ByteBuffer b = init.data().duplicate().order(ByteOrder.LITTLE_ENDIAN);
                    int[] v =
                            new int[count(init, exactElements(init, b.remaining(), 4, file), file)];
                    b.asIntBuffer().get(v);
                    return manager.create(v, new Shape(init.dims()));
                }
            default:
                return manager.create(floats(init, file), new Shape(init.dims()));
        }
    }

    /** The initializer's values as float32 (FLOAT, FLOAT16, BFLOAT16 and DOUBLE are accepted). */
    private static float[] floats(Initializer init, Path file) {
        ByteBuffer b = init.data().duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int type = init.dataType();
        int width =
                type == OnnxModelReader.FLOAT
                        ? 4
                        : type == OnnxModelReader.DOUBLE
                                ? 8
                                : type == OnnxModelReader.FLOAT16
                                                || type == OnnxModelReader.BFLOAT16
                                        ? 2
                                        : -1;
        if (width < 0) {
            throw new IllegalArgumentException(
                    file
                            + ": initializer '"
                            + init.name()
                            + "' has ONNX data type "
                            + type
                            + "; expected a float type");
        }
        if (init.typedFloats() && type == OnnxModelReader.FLOAT) {
            width = 4;
        } else if (init.typedFloats() || init.typedInt64()) {
            throw new IllegalArgumentException(
                    file
                            + ": initializer '"
                            + init.name()
                            + "' stores type "
                            + type
                            + " in a typed field; only raw_data is supported for it");
        }
        // Checked before allocating: dims come from the file and may claim anything.
        float[] out = new float[count(init, exactElements(init, b.remaining(), width, file), file)];
        for (int i = 0; i < out.length; i++) {
            switch (type) {
                case OnnxModelReader.FLOAT:
                    out[i] = b.getFloat();
                    break;
                case OnnxModelReader.DOUBLE:
                    out[i] = (float) b.getDouble();
                    break;
                case OnnxModelReader.BFLOAT16:
                    out[i] = Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
                    break;
                default:
                    out[i] = halfToFloat(b.getShort());
            }
        }
        return out;
    }

    /** Dims as Shape prints them, for any values (a Shape refuses negative ones). */
    private static String shapeText(long[] dims) {
        return Arrays.stream(dims)
                .mapToObj(Long::toString)
                .collect(Collectors.joining(", ", "(", ")"));
    }

    /**
     * The number of {@code width}-byte values in {@code bytes} data bytes, which must divide
     * evenly.
     */
    private static long exactElements(Initializer init, long bytes, int width, Path file) {
        if (bytes % width != 0) {
            throw new IllegalArgumentException(
                    file
                            + ": initializer '"
                            + init.name()
                            + "' has "
                            + bytes
                            + " data bytes, not a multiple of its "
                            + width
                            + "-byte element");
        }
        return bytes / width;
    }

    /**
     * The element count the initializer's dims describe, which must equal the number of values its
     * data holds: refused before anything is allocated when the dims are negative, overflow, or
     * claim more (or fewer) values than the file stores.
     */
    private static int count(Initializer init, long held, Path file) {
        long count = 1;
        for (long d : init.dims()) {
            if (d < 0) {
                throw new IllegalArgumentException(
                        file
                                + ": initializer '"
                                + init.name()
                                + "' has a negative dimension in "
                                + Arrays.toString(init.dims()));
            }
            count = Sizes.mul(count, d);
        }
        if (count != held) {
            throw new IllegalArgumentException(
                    file
                            + ": initializer '"
                            + init.name()
                            + "' holds "
                            + held
                            + " values; its dims "
                            + Arrays.toString(init.dims())
                            + " need "
                            + (count == Long.MAX_VALUE ? "more than 2^63" : Long.toString(count)));
        }
        return Math.toIntExact(count); // held <= file size < 2 GiB
    }

    /** An FP16 initializer's element as a float (the one conversion every reader uses). */
    static float halfToFloat(short h) {
        return HalfFloats.f16ToFloat(h);
    }
}
