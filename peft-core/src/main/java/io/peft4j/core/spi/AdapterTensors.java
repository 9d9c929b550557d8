package io.peft4j.core.spi;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import io.peft4j.core.io.SafetensorsDType;
import io.peft4j.core.io.TensorInfo;
import io.peft4j.core.ops.Finite;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;

/**
 * The one check every method's adapter tensors go through, from a file header (before any byte is
 * read) and again in memory (before anything is copied into the model): each tensor's name must be
 * one the adapter expects, under peft's key prefix {@value #PREFIX}; its type must be a float type
 * (or an integer type for index tables); its shape must be the one expected; and, once loaded, a
 * float tensor must hold no NaN/Inf. Errors name the tensor and what was expected.
 */
public final class AdapterTensors {

    /** The key prefix of every tensor in Hugging Face peft's adapter files. */
    public static final String PREFIX = "base_model.model.";

    /** At most this many problems are listed in one message. */
    private static final int MAX_LISTED = 20;

    private AdapterTensors() {}

    /**
     * The file key of a tensor of module {@code path}.
     *
     * @param path the module path, e.g. {@code model.layers.0.self_attn.q_proj}
     * @param suffix what follows it, e.g. {@code .lora_A.weight}
     * @return {@code base_model.model.<path><suffix>}
     */
    public static String key(String path, String suffix) {
        return PREFIX + path + suffix;
    }

    /** What kind of values a tensor holds. */
    public enum Kind {
        /** Weights: F16, BF16, F32 or F64, finite. */
        FLOAT,
        /** Index tables: I32 or I64. */
        INDEX
    }

    /**
     * What one tensor must look like.
     *
     * @param key the file key
     * @param shape the exact shape, or {@code null} for a 1-D tensor of at most {@code maxElements}
     * @param maxElements the bound for a shape left open
     * @param kind float weights or integer indices
     * @param required whether a file without it is refused
     * @param hint what the shape follows from (e.g. "r=8"), shown with a wrong shape; may be empty
     */
    public record Spec(
            String key, Shape shape, long maxElements, Kind kind, boolean required, String hint) {

        /**
         * Checks the key.
         *
         * @param key the file key
         * @param shape the exact shape, or {@code null} for a 1-D tensor of at most {@code
         *     maxElements}
         * @param maxElements the bound for a shape left open
         * @param kind float weights or integer indices
         * @param required whether a file without it is refused
         * @param hint what the shape follows from, shown with a wrong shape; may be empty
         */
        public Spec {
            Objects.requireNonNull(key, "key");
            Objects.requireNonNull(kind, "kind");
            hint = hint == null ? "" : hint;
        }

        /**
         * A required float tensor of exactly {@code shape}.
         *
         * @param key the file key
         * @param shape the exact shape
         * @param hint what the shape follows from, shown with a wrong shape
         * @return the spec
         */
        public static Spec weight(String key, Shape shape, String hint) {
            return new Spec(key, shape, shape.size(), Kind.FLOAT, true, hint);
        }

        /**
         * A required index table of exactly {@code shape}.
         *
         * @param key the file key
         * @param shape the exact shape
         * @param hint what the shape follows from, shown with a wrong shape
         * @return the spec
         */
        public static Spec index(String key, Shape shape, String hint) {
            return new Spec(key, shape, shape.size(), Kind.INDEX, true, hint);
        }

        /**
         * This spec, but a file may leave the tensor out.
         *
         * @return a copy of this spec that is not required
         */
        public Spec optional() {
            return new Spec(key, shape, maxElements, kind, false, hint);
        }

        private String expected() {
            return shape != null ? shape.toString() : "(n <= " + maxElements + ")";
        }
    }

    /**
     * The specs of an adapter's tensors as the adapter holds them: every parameter a required float
     * tensor of its current shape, every frozen tensor required with its current shape and kind.
     *
     * @param parameters the trained tensors by key
     * @param frozen the frozen tensors saved with the adapter
     * @param hint what the shapes follow from, for messages
     * @return specs by key, in the given order
     */
    public static Map<String, Spec> specsOf(
            Map<String, Parameter> parameters, Map<String, NDArray> frozen, String hint) {
        Map<String, Spec> specs = new LinkedHashMap<>();
        parameters.forEach((k, p) -> specs.put(k, Spec.weight(k, p.getArray().getShape(), hint)));
        frozen.forEach(
                (k, a) ->
                        specs.put(
                                k,
                                a.getDataType().isFloating()
                                        ? Spec.weight(k, a.getShape(), hint)
                                        : Spec.index(k, a.getShape(), hint)));
        return specs;
    }

    /**
     * Checks a file's tensors from its header alone, before any byte of them is read.
     *
     * @param what names the adapter, e.g. {@code adapter 'default'}
     * @param specs what the adapter expects, by key
     * @param header the file's tensors
     * @throws IllegalArgumentException listing every problem (unexpected, missing, wrong type or
     *     shape), each naming the tensor
     */
    public static void checkHeader(
            String what, Map<String, Spec> specs, Map<String, TensorInfo> header) {
        List<String> problems = new ArrayList<>();
        for (Spec s : specs.values()) {
            TensorInfo found = header.get(s.key());
            if (found == null) {
                if (s.required()) {
                    problems.add(
                            "missing tensor "
                                    + s.key()
                                    + " "
                                    + s.expected()
                                    + (s.hint().isEmpty() ? "" : " (" + s.hint() + ")"));
                }
                continue;
            }
            check(
                    s,
                    found.dtype().isFloatingPoint(),
                    isIndex(found.dtype()),
                    found.dtype().name(),
                    new Shape(found.shape()),
                    problems);
        }
        unexpected(specs, header.keySet(), problems);
        refuseIfAny(what, problems);
    }

    /**
     * Checks tensors in memory: the same name, type and shape rules as {@link #checkHeader}, and no
     * NaN/Inf in a float tensor.
     *
     * @param what names the adapter
     * @param specs what the adapter expects, by key
     * @param tensors the tensors to load, by key
     * @throws IllegalArgumentException listing every problem, each naming the tensor
     */
    public static void check(String what, Map<String, Spec> specs, Map<String, NDArray> tensors) {
        List<String> problems = new ArrayList<>();
        for (Spec s : specs.values()) {
            NDArray found = tensors.get(s.key());
            if (found == null) {
                if (s.required()) {
                    problems.add(
                            "missing tensor "
                                    + s.key()
                                    + " "
                                    + s.expected()
                                    + (s.hint().isEmpty() ? "" : " (" + s.hint() + ")"));
                }
                continue;
            }
            DataType t = found.getDataType();
            int before = problems.size();
            check(
                    s,
                    t.isFloating(),
                    t == DataType.INT32 || t == DataType.INT64,
                    t.name(),
                    found.getShape(),
                    problems);
            if (problems.size() == before && s.kind() == Kind.FLOAT && !Finite.all(found)) {
                problems.add("tensor " + s.key() + " holds NaN or Inf values");
            }
        }
        unexpected(specs, tensors.keySet(), problems);
        refuseIfAny(what, problems);
    }

    /**
     * Copies {@code source} into {@code target}, converting to the target's type.
     *
     * @param source a checked tensor
     * @param target the adapter's array
     */
    public static void copy(NDArray source, NDArray target) {
        NDArray cast = source.toType(target.getDataType(), true);
        cast.copyTo(target);
        if (cast != source) {
            cast.close();
        }
    }

    private static boolean isIndex(SafetensorsDType t) {
        return t == SafetensorsDType.I32 || t == SafetensorsDType.I64;
    }

    private static void check(
            Spec s,
            boolean floating,
            boolean index,
            String typeName,
            Shape shape,
            List<String> problems) {
        boolean typeOk = s.kind() == Kind.FLOAT ? floating : index;
        if (!typeOk) {
            problems.add(
                    "tensor "
                            + s.key()
                            + " has type "
                            + typeName
                            + ", expected "
                            + (s.kind() == Kind.FLOAT
                                    ? "a float type (F16, BF16, F32, F64)"
                                    : "integer indices (I64 or I32)"));
            return;
        }
        boolean shapeOk =
                s.shape() != null
                        ? s.shape().equals(shape)
                        : shape.dimension() == 1 && shape.get(0) <= s.maxElements();
        if (!shapeOk) {
            problems.add(
                    "tensor "
                            + s.key()
                            + " has shape "
                            + shape
                            + ", expected "
                            + s.expected()
                            + (s.hint().isEmpty() ? "" : " (" + s.hint() + ")"));
        }
    }

    private static void unexpected(
            Map<String, Spec> specs, java.util.Set<String> keys, List<String> problems) {
        TreeSet<String> extra = new TreeSet<>(keys);
        extra.removeAll(specs.keySet());
        for (String k : extra) {
            problems.add(
                    "unexpected tensor "
                            + k
                            + (k.startsWith(PREFIX)
                                    ? " (no such module or tensor in this adapter)"
                                    : " (peft adapter keys start with '" + PREFIX + "')"));
        }
    }

    /**
     * Refuses a file when any problem was found: one message naming the adapter and the first
     * {@value #MAX_LISTED} problems (and how many more there are).
     *
     * @param what names the adapter, e.g. {@code adapter 'default'}
     * @param problems the problems found, each naming its tensor; may be empty
     * @throws IllegalArgumentException when {@code problems} is not empty
     */
    public static void refuseIfAny(String what, List<String> problems) {
        if (problems.isEmpty()) {
            return;
        }
        throw new IllegalArgumentException(
                what
                        + " does not fit the model: "
                        + String.join(
                                "; ", problems.subList(0, Math.min(problems.size(), MAX_LISTED)))
                        + (problems.size() > MAX_LISTED
                                ? "; and " + (problems.size() - MAX_LISTED) + " more"
                                : ""));
    }
}
