package io.peft4j.core.contract;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.peft4j.core.ops.Scalars;
import java.util.Random;

/**
 * Small deterministic base models for the contract suite: a DJL {@link SequentialBlock} MLP (a
 * foreign block tree) and a tiny transformer with Hugging Face module names.
 */
public final class TestModels {

    private TestModels() {}

    /** Which test model. */
    public enum Kind {
        /** Linear(8→16) → ReLU → Linear(16→4), as a DJL SequentialBlock. */
        MLP,
        /** embed_tokens → one attention + MLP layer → lm_head, HF names. */
        TRANSFORMER,
        /**
         * DJL's own {@code TransformerEncoderBlock} (hidden 16, 2 heads, feed-forward 32; attention
         * projections in private fields typed {@code Linear}, BatchNorm with running statistics),
         * then a {@code Linear} head, in a SequentialBlock. Paths: {@code
         * TransformerEncoderBlock.selfAttention.queryProjection}, {@code
         * TransformerEncoderBlock.outputBlock.Linear_1}, {@code
         * TransformerEncoderBlock.attentionNorm}, {@code Linear}.
         */
        DJL_ENCODER
    }

    /** Vocabulary size of the tiny transformer. */
    public static final int VOCAB = 32;

    /** Hidden size of the tiny transformer. */
    public static final int HIDDEN = 16;

    /** A model of {@code kind} whose weights depend only on {@code seed}. */
    public static Block create(Kind kind, NDManager manager, long seed) {
        switch (kind) {
            case MLP:
                return mlp(manager, seed);
            case DJL_ENCODER:
                return djlEncoder(manager, seed);
            default:
                return transformer(manager, seed);
        }
    }

    /** An input batch for {@code kind} (batch 3). */
    public static NDList input(Kind kind, NDManager manager, long seed) {
        Random random = new Random(seed);
        if (kind == Kind.MLP) {
            return new NDList(manager.create(floats(random, 3 * 8, 1.0), new Shape(3, 8)));
        }
        if (kind == Kind.DJL_ENCODER) {
            return new NDList(
                    manager.create(floats(random, 3 * 5 * HIDDEN, 1.0), new Shape(3, 5, HIDDEN)));
        }
        int[] ids = new int[3 * 5];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = random.nextInt(VOCAB);
        }
        return new NDList(manager.create(ids, new Shape(3, 5)));
    }

    /**
     * A DJL SequentialBlock MLP; its module paths are {@code Linear_1}, {@code LambdaBlock}, {@code
     * Linear_3}.
     */
    public static Block mlp(NDManager manager, long seed) {
        Random random = new Random(seed);
        SequentialBlock block =
                new SequentialBlock()
                        .add(linear(manager, 8, 16, true, random))
                        .add(Activation::relu)
                        .add(linear(manager, 16, 4, true, random));
        block.initialize(
                manager, DataType.FLOAT32, new Shape(1, 8)); // as a user would; keeps values
        return block;
    }

    /**
     * DJL's {@code TransformerEncoderBlock} followed by a {@code Linear} head (16 to 4) in a {@code
     * SequentialBlock}, initialized as a user would, then every tensor set from {@code seed}:
     * weights and BatchNorm scales/shifts Gaussian, running variances in [0.5, 1.5). The head keeps
     * a training loss on the output from being constant: the encoder ends in a BatchNorm, whose
     * output in a training pass has the same mean square whatever its input.
     */
    public static Block djlEncoder(NDManager manager, long seed) {
        return djlEncoder(manager, seed, 1);
    }

    /**
     * As {@link #djlEncoder(NDManager, long)} with {@code layers} encoder blocks one after the
     * other before the head, as a DJL user stacks them (paths {@code TransformerEncoderBlock_1} ...
     * when there are several); one layer gives the same model as the two-argument form.
     */
    public static Block djlEncoder(NDManager manager, long seed, int layers) {
        Random random = new Random(seed);
        SequentialBlock block = new SequentialBlock();
        for (int i = 0; i < layers; i++) {
            block.add(
                    new ai.djl.nn.transformer.TransformerEncoderBlock(
                            HIDDEN, 2, 2 * HIDDEN, 0.1f, Activation::gelu));
        }
        block.add(Linear.builder().setUnits(4).build());
        block.initialize(manager, DataType.FLOAT32, new Shape(1, 5, HIDDEN));
        for (ai.djl.util.Pair<String, Parameter> p : block.getParameters()) {
            NDArray a = p.getValue().getArray();
            if (p.getValue().getType() == Parameter.Type.RUNNING_VAR) {
                float[] v = new float[(int) a.size()];
                for (int i = 0; i < v.length; i++) {
                    v[i] = 0.5f + random.nextFloat();
                }
                a.set(v);
            } else {
                fill(
                        a,
                        random,
                        a.getShape().dimension() == 2
                                ? 1.0 / Math.sqrt((double) a.getShape().get(1))
                                : 0.3);
            }
        }
        return block;
    }

    /** A tiny transformer with HF names (model paths like {@code layers.0.self_attn.q_proj}). */
    public static Block transformer(NDManager manager, long seed) {
        return new TinyTransformer(manager, new Random(seed));
    }

    /** An initialized {@link Linear} with values drawn from {@code random}. */
    public static Linear linear(NDManager manager, int in, int out, boolean bias, Random random) {
        Linear.Builder b = Linear.builder().setUnits(out);
        if (!bias) {
            b.optBias(false);
        }
        Linear linear = b.build();
        linear.initialize(manager, DataType.FLOAT32, new Shape(1, in));
        fill(linear.getParameters().get("weight").getArray(), random, 1.0 / Math.sqrt(in));
        if (bias) {
            fill(linear.getParameters().get("bias").getArray(), random, 0.1);
        }
        return linear;
    }

    static void fill(NDArray array, Random random, double scale) {
        array.set(floats(random, (int) array.size(), scale));
    }

    static float[] floats(Random random, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * scale);
        }
        return v;
    }

    static Parameter parameter(
            NDManager manager, String name, Shape shape, Random random, double scale) {
        NDArray array = manager.create(floats(random, (int) shape.size(), scale), shape);
        return Parameter.builder()
                .setName(name)
                .setType(Parameter.Type.WEIGHT)
                .optArray(array)
                .build();
    }

    /** A token embedding with one {@code weight} (vocab, hidden) parameter. */
    public static final class TokenEmbedding extends AbstractBlock {
        private final Parameter weight;

        TokenEmbedding(NDManager manager, Random random) {
            inputShapes = new Shape[0]; // built with weights: no DJL initialization pass
            weight =
                    addParameter(
                            parameter(manager, "weight", new Shape(VOCAB, HIDDEN), random, 1.0));
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray w = ps.getValue(weight, inputs.head().getDevice(), training);
            return Embedding.embedding(inputs.head(), w, ai.djl.ndarray.types.SparseFormat.DENSE);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes.length == 0
                    ? new Shape[0]
                    : new Shape[] {inputShapes[0].add(HIDDEN)};
        }
    }

    /**
     * A list of layers named "0", "1", ... like PyTorch's ModuleList, run in order; built from
     * layers that hold their weights already (no DJL initialization pass).
     */
    public static final class ModuleList extends AbstractBlock {
        /**
         * @param layers the layers, in order
         */
        public ModuleList(Block... layers) {
            inputShapes = new Shape[0]; // built with weights: no DJL initialization pass
            for (int i = 0; i < layers.length; i++) {
                addChildBlock(String.valueOf(i), layers[i]);
            }
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDList x = inputs;
            for (Block layer : getChildren().values()) {
                x = layer.forward(ps, x, training, params);
            }
            return x;
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes;
        }
    }

    /** Single-head attention with q/k/v/o projections held in Block-typed fields. */
    static final class Attention extends AbstractBlock {
        private Block qProj;
        private Block kProj;
        private Block vProj;
        private Block oProj;

        Attention(NDManager manager, Random random) {
            inputShapes = new Shape[0]; // built with weights: no DJL initialization pass
            qProj = addChildBlock("q_proj", linear(manager, HIDDEN, HIDDEN, false, random));
            kProj = addChildBlock("k_proj", linear(manager, HIDDEN, HIDDEN, false, random));
            vProj = addChildBlock("v_proj", linear(manager, HIDDEN, HIDDEN, true, random));
            oProj = addChildBlock("o_proj", linear(manager, HIDDEN, HIDDEN, false, random));
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray q = qProj.forward(ps, inputs, training, params).head();
            NDArray k = kProj.forward(ps, inputs, training, params).head();
            NDArray v = vProj.forward(ps, inputs, training, params).head();
            NDArray scores = Scalars.div(q.matMul(k.transpose(0, 2, 1)), Math.sqrt(HIDDEN));
            NDArray attended = scores.softmax(-1).matMul(v);
            return oProj.forward(ps, new NDList(attended), training, params);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes;
        }
    }

    /** up_proj → SiLU → down_proj. */
    static final class Mlp extends AbstractBlock {
        private Block upProj;
        private Block downProj;

        Mlp(NDManager manager, Random random) {
            inputShapes = new Shape[0]; // built with weights: no DJL initialization pass
            upProj = addChildBlock("up_proj", linear(manager, HIDDEN, 2 * HIDDEN, false, random));
            downProj =
                    addChildBlock("down_proj", linear(manager, 2 * HIDDEN, HIDDEN, false, random));
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray h = upProj.forward(ps, inputs, training, params).head();
            return downProj.forward(ps, new NDList(h.mul(Activation.sigmoid(h))), training, params);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes;
        }
    }

    /** Pre-norm residual layer. */
    static final class Layer extends AbstractBlock {
        private Block selfAttn;
        private Block mlp;

        Layer(NDManager manager, Random random) {
            inputShapes = new Shape[0]; // built with weights: no DJL initialization pass
            selfAttn = addChildBlock("self_attn", new Attention(manager, random));
            mlp = addChildBlock("mlp", new Mlp(manager, random));
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDArray x = inputs.head();
            x = x.add(selfAttn.forward(ps, new NDList(norm(x)), training, params).head());
            x = x.add(mlp.forward(ps, new NDList(norm(x)), training, params).head());
            return new NDList(x);
        }

        private static NDArray norm(NDArray x) {
            return x.div(Scalars.add(x.square().mean(new int[] {-1}, true), 1e-6).sqrt());
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes;
        }
    }

    /** The tiny transformer. */
    static final class TinyTransformer extends AbstractBlock {
        private Block embedTokens;
        private Block layers;
        private Block lmHead;

        TinyTransformer(NDManager manager, Random random) {
            inputShapes = new Shape[0]; // built with weights: no DJL initialization pass
            embedTokens = addChildBlock("embed_tokens", new TokenEmbedding(manager, random));
            layers =
                    addChildBlock(
                            "layers",
                            new ModuleList(new Layer(manager, random), new Layer(manager, random)));
            lmHead = addChildBlock("lm_head", linear(manager, HIDDEN, VOCAB, false, random));
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                PairList<String, Object> params) {
            NDList h = embedTokens.forward(ps, inputs, training, params);
            h = layers.forward(ps, h, training, params);
            return lmHead.forward(ps, h, training, params);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            // built with weights, so no recorded input shapes: unknown, as DJL's describe may ask
            return inputShapes.length == 0 ? new Shape[0] : new Shape[] {inputShapes[0].add(VOCAB)};
        }
    }

    /** Largest absolute difference of two arrays of equal shape. */
    public static float maxAbsDiff(NDArray a, NDArray b) {
        return a.sub(b).abs().max().getFloat();
    }

    /** Copies of every array of {@code list}, detached from the graph. */
    public static NDList copy(NDList list) {
        NDList out = new NDList();
        for (NDArray a : list) {
            out.add(a.duplicate());
        }
        return out;
    }

    static NDArray stack(NDList l) {
        return NDArrays.stack(l);
    }
}
