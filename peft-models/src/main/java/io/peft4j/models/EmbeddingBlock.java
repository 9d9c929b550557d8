package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import com.google.common.base.Preconditions;

/**
 * A lookup table with one parameter named {@code weight} of shape {@code (numEmbeddings, dim)},
 * laid out as PyTorch's {@code nn.Embedding}. Input: one int64 array of ids of any shape; output:
 * the same shape with a trailing {@code dim} axis.
 *
 * <p>DJL's {@code ai.djl.nn.core.Embedding} names its parameter {@code embedding} and maps items to
 * ids itself, so it cannot carry Hugging Face names; this block can.
 */
public final class EmbeddingBlock extends AbstractBlock {

    private final long numEmbeddings;
    private final long dim;
    private final Parameter weight;

    /**
     * @param numEmbeddings rows of the table (vocabulary size)
     * @param dim width of each row
     */
    public EmbeddingBlock(long numEmbeddings, long dim) {
        Preconditions.checkArgument(
                numEmbeddings > 0 && dim > 0,
                "embedding size must be positive, got (%s, %s)",
                numEmbeddings,
                dim);
        this.numEmbeddings = numEmbeddings;
        this.dim = dim;
        this.weight =
                addParameter(
                        Parameter.builder()
                                .setName("weight")
                                .setType(Parameter.Type.WEIGHT)
                                .build());
    }

    /**
     * @return rows of the table
     */
    public long numEmbeddings() {
        return numEmbeddings;
    }

    /**
     * @return width of each row
     */
    public long dim() {
        return dim;
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray ids = inputs.head();
        if (ids.getDataType() != DataType.INT64) {
            ids = ids.toType(DataType.INT64, false);
        }
        NDArray w = ps.getValue(weight, ids.getDevice(), training);
        return new NDList(ids.getNDArrayInternal().embedding(ids, w, SparseFormat.DENSE).head());
    }

    @Override
    protected void prepare(Shape[] inputShapes) {
        weight.setShape(new Shape(numEmbeddings, dim));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0].add(dim)};
    }

    @Override
    public String toString() {
        return "EmbeddingBlock(" + numEmbeddings + ", " + dim + ")";
    }
}
