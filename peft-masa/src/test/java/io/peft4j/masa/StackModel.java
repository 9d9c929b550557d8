package io.peft4j.masa;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.contract.TestModels;
import java.util.Random;

/**
 * A deeper test model than the contract suite's: {@code layers.<i>.q_proj} (h x h), {@code
 * layers.<i>.v_proj} (h x h) and {@code layers.<i>.o_proj} (h x h, no bias) for L layers, with
 * residual connections: {@code x += o(tanh(q(x)) * v(x))}. Layer weights share a common part plus a
 * per-layer part, like trained transformers' (so a few atoms explain most of them).
 */
final class StackModel extends AbstractBlock {

    static final int HIDDEN = 12;

    private final Block layers;

    private StackModel(Block layers) {
        this.layers = addChildBlock("layers", layers);
        inputShapes = new Shape[0];
    }

    static StackModel create(NDManager manager, int numLayers, long seed) {
        Random random = new Random(seed);
        Random shared = new Random(1234);
        Block[] blocks = new Block[numLayers];
        float[][] common = new float[3][HIDDEN * HIDDEN];
        for (float[] c : common) {
            for (int i = 0; i < c.length; i++) {
                c[i] = (float) (shared.nextGaussian() * 0.3);
            }
        }
        for (int l = 0; l < numLayers; l++) {
            blocks[l] = new Layer(manager, random, common);
        }
        return new StackModel(new TestModels.ModuleList(blocks));
    }

    /** A batch (3, HIDDEN) of inputs. */
    static NDList input(NDManager manager, long seed) {
        Random r = new Random(seed);
        float[] v = new float[3 * HIDDEN];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return new NDList(manager.create(v, new Shape(3, HIDDEN)));
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        return layers.forward(ps, inputs, training, params);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return inputShapes;
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {}

    static final class Layer extends AbstractBlock {
        private final Block q;
        private final Block v;
        private final Block o;

        Layer(NDManager manager, Random random, float[][] common) {
            q = addChildBlock("q_proj", linear(manager, random, common[0], true));
            v = addChildBlock("v_proj", linear(manager, random, common[1], true));
            o = addChildBlock("o_proj", linear(manager, random, common[2], false));
            inputShapes = new Shape[0];
        }

        private static Block linear(
                NDManager manager, Random random, float[] common, boolean bias) {
            var lin = TestModels.linear(manager, HIDDEN, HIDDEN, bias, random);
            NDArray w = lin.getDirectParameters().get("weight").getArray();
            float[] own = w.toFloatArray();
            for (int i = 0; i < own.length; i++) {
                own[i] = common[i] + 0.5f * own[i];
            }
            w.set(own);
            return lin;
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray x = inputs.head();
            NDArray h =
                    q.forward(ps, inputs, training, params)
                            .head()
                            .tanh()
                            .mul(v.forward(ps, inputs, training, params).head());
            return new NDList(x.add(o.forward(ps, new NDList(h), training, params).head()));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes;
        }

        @Override
        protected void initializeChildBlocks(
                NDManager manager, DataType dataType, Shape... inputShapes) {}
    }
}
