package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/** Tensors already in memory (e.g. imported from ONNX), keyed by Hugging Face name. */
final class MapTensorSource implements TensorSource {

    private final Map<String, NDArray> tensors;
    private final String origin;

    MapTensorSource(Map<String, NDArray> tensors, String origin) {
        this.tensors = tensors;
        this.origin = origin;
    }

    @Override
    public List<String> names() {
        List<String> names = new ArrayList<>(tensors.keySet());
        Collections.sort(names);
        return names;
    }

    @Override
    public Shape shape(String name) {
        return tensors.get(name).getShape();
    }

    @Override
    public ai.djl.ndarray.types.DataType dataType(String name) {
        return tensors.get(name).getDataType();
    }

    @Override
    public String origin(String name) {
        return origin;
    }

    /** Returns a copy in {@code manager}; the map's arrays stay with their owner. */
    @Override
    public NDArray load(String name, NDManager manager) {
        NDArray copy = tensors.get(name).duplicate();
        copy.attach(manager);
        return copy;
    }

    @Override
    public void close() {}
}
