package io.peft4j.core.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.norm.Dropout;
import ai.djl.training.GradientCollector;
import io.peft4j.core.testing.LiveArrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Tiny hand-built models and data for the trainer tests. */
final class TrainTestSupport {

    private TrainTestSupport() {}

    /** Number of NDArrays alive in every manager of the engine. */
    static int liveArrays() {
        return LiveArrays.count();
    }

    static Parameter trainable(String name, NDArray array) {
        array.setRequiresGradient(true);
        return Parameter.builder()
                .setName(name)
                .setType(Parameter.Type.WEIGHT)
                .optArray(array)
                .build();
    }

    /**
     * Sets the gradient of {@code param} to exactly {@code grad}: backward of sum(w * grad), with
     * the gradient zeroed before.
     */
    static void setGradient(Parameter param, NDArray grad) {
        Gradients.zero(java.util.List.of(param));
        NDArray w = param.getArray();
        try (NDManager scope = w.getManager().newSubManager()) {
            NDArray g = grad.duplicate();
            g.attach(scope);
            try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                collector.backward(g.mul(w).sum());
            }
        }
    }

    static float[] floats(Parameter param) {
        return param.getArray().toFloatArray();
    }

    static byte[] bytes(NDArray array) {
        java.nio.ByteBuffer buffer = array.toByteBuffer();
        byte[] out = new byte[buffer.remaining()];
        buffer.get(out);
        return out;
    }

    /**
     * y = x W^T + b with a trainable W (out x in, starting at 0) and a frozen bias b that must stay
     * bit-identical.
     */
    static final class LinearModel implements TrainableModel, AutoCloseable {
        final NDManager manager;
        final Parameter weight;
        final Parameter frozenBias;

        LinearModel(int in, int out) {
            manager = NDManager.newBaseManager();
            weight = trainable("weight", manager.zeros(new Shape(out, in)));
            float[] bias = new float[out];
            for (int i = 0; i < out; i++) {
                bias[i] = 0.25f * (i + 1);
            }
            frozenBias =
                    Parameter.builder()
                            .setName("bias")
                            .setType(Parameter.Type.BIAS)
                            .optArray(manager.create(bias))
                            .optRequiresGrad(false)
                            .build();
        }

        @Override
        public Map<String, Parameter> trainableParameters() {
            Map<String, Parameter> params = new LinkedHashMap<>();
            params.put("weight", weight);
            return params;
        }

        /** Forward: batch arrays first, so intermediates live in the batch's manager. */
        NDArray forward(NDArray x) {
            return x.matMul(weight.getArray().transpose()).add(frozenBias.getArray());
        }

        /**
         * Mean squared error; with {@code dropoutRate > 0}, dropout on the input while training.
         */
        LossFunction mse(float dropoutRate) {
            return (batch, training) -> {
                NDArray x = batch.get(0);
                if (dropoutRate > 0) {
                    x = Dropout.dropout(x, dropoutRate, training).singletonOrThrow();
                }
                return forward(x).sub(batch.get(1)).square().mean();
            };
        }

        @Override
        public void close() {
            manager.close();
        }
    }

    /** Examples (x, y) with y = x W* ^T + b + noise, kept on the JVM heap. */
    static final class RegressionData implements TrainingData {
        final float[][] x;
        final float[][] y;

        RegressionData(int n, int in, int out, float[] bias, long seed) {
            Random random = new Random(seed);
            float[][] target = new float[out][in];
            for (float[] row : target) {
                for (int j = 0; j < in; j++) {
                    row[j] = (float) random.nextGaussian();
                }
            }
            x = new float[n][in];
            y = new float[n][out];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < in; j++) {
                    x[i][j] = (float) random.nextGaussian();
                }
                for (int o = 0; o < out; o++) {
                    double v = bias[o] + 0.01 * random.nextGaussian();
                    for (int j = 0; j < in; j++) {
                        v += target[o][j] * x[i][j];
                    }
                    y[i][o] = (float) v;
                }
            }
        }

        @Override
        public int size() {
            return x.length;
        }

        @Override
        public NDList batch(NDManager manager, int[] indices) {
            float[][] bx = new float[indices.length][];
            float[][] by = new float[indices.length][];
            for (int i = 0; i < indices.length; i++) {
                bx[i] = x[indices[i]];
                by[i] = y[indices[i]];
            }
            return new NDList(manager.create(bx), manager.create(by));
        }
    }

    static float[] biasOf(LinearModel model) {
        return model.frozenBias.getArray().toFloatArray();
    }
}
