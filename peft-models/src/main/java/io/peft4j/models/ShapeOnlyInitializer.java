package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.initializer.Initializer;

/**
 * Gives a parameter an array of its shape that takes no memory: one zero broadcast to the shape (a
 * stride-0 view). For a model whose every weight is about to be replaced by a checkpoint's: the
 * shapes exist, so the checkpoint can be checked against them, before anything large is allocated.
 * Such an array must not be written to; the loader replaces it.
 */
final class ShapeOnlyInitializer implements Initializer {

    static final ShapeOnlyInitializer INSTANCE = new ShapeOnlyInitializer();

    private ShapeOnlyInitializer() {}

    @Override
    public NDArray initialize(NDManager manager, Shape shape, DataType dataType) {
        try (NDArray zero = manager.zeros(new Shape(1), dataType)) {
            // the view keeps the one-element storage alive after its own handle is closed
            return zero.broadcast(shape);
        }
    }
}
