package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;

/** Named tensors to load into a model: a checkpoint on disk or tensors already in memory. */
interface TensorSource extends AutoCloseable {

    /**
     * @return every tensor name, sorted
     */
    List<String> names();

    /**
     * @return the tensor's shape, without reading its data
     */
    Shape shape(String name);

    /**
     * @return the type {@link #load} will give the tensor, without reading its data (so a loader
     *     can refuse a non-float weight before it changes anything)
     */
    DataType dataType(String name);

    /**
     * @return where the tensor comes from, for error messages (a file name)
     */
    String origin(String name);

    /**
     * @return the tensor as a floating-point array (F32, F16 or F64) in {@code manager}
     */
    NDArray load(String name, NDManager manager);

    @Override
    void close();
}
