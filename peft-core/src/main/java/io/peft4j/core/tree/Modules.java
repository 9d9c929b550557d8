package io.peft4j.core.tree;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.ParameterList;
import ai.djl.nn.core.Embedding;
import ai.djl.util.Pair;
import java.util.Optional;

/** What kind of layer a block is, as adapters need to know it. */
public final class Modules {

    private Modules() {}

    /**
     * The table of an embedding block: DJL's {@code Embedding} ({@code embedding} parameter) or a
     * block whose class name says Embedding with one 2-D {@code weight} parameter; {@code null} for
     * anything else.
     *
     * @param b the block
     * @return the table, or {@code null}
     */
    public static Parameter embeddingTable(Block b) {
        ParameterList params = b.getDirectParameters();
        if (b instanceof Embedding && params.contains("embedding")) {
            return params.get("embedding");
        }
        if (b.getClass().getSimpleName().contains("Embedding")
                && params.size() == 1
                && params.contains("weight")
                && params.get("weight").isInitialized()
                && params.get("weight").getArray().getShape().dimension() == 2) {
            return params.get("weight");
        }
        return null;
    }

    /**
     * The block's own parameter {@code name} (a Linear's {@code bias}, say), or {@code null} when
     * the block has none of that name.
     *
     * @param b the block
     * @param name the parameter's name among the block's direct parameters
     * @return the parameter, or {@code null}
     */
    public static Parameter parameter(Block b, String name) {
        ParameterList params = b.getDirectParameters();
        return params.contains(name) ? params.get(name) : null;
    }

    /**
     * The array of the first initialized floating-point parameter under {@code b}, in DJL's
     * parameter order: the data type and device that new tensors working with the block take.
     *
     * @param b the block
     * @return that array, or empty when the block has none
     */
    public static Optional<NDArray> firstFloatArray(Block b) {
        for (Pair<String, Parameter> p : b.getParameters()) {
            if (p.getValue().isInitialized()) {
                DataType t = p.getValue().getArray().getDataType();
                if (t == DataType.FLOAT32 || t == DataType.FLOAT16 || t == DataType.FLOAT64) {
                    return Optional.of(p.getValue().getArray());
                }
            }
        }
        return Optional.empty();
    }
}
