package io.peft4j.shadow;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import io.peft4j.core.spi.Adapter;
import io.peft4j.models.BertConfig;
import io.peft4j.models.BertModel;
import io.peft4j.models.LlamaConfig;
import io.peft4j.models.LlamaForCausalLM;
import java.util.Random;

/** Tiny random LLaMA and BERT bases from peft-models, whose weights depend only on a seed. */
final class ShadowTestModels {

    static final int VOCAB = 32;
    static final int HIDDEN = 16;

    private ShadowTestModels() {}

    static LlamaConfig llamaConfig(int layers) {
        return LlamaConfig.builder()
                .vocabSize(VOCAB)
                .hiddenSize(HIDDEN)
                .intermediateSize(24)
                .numHiddenLayers(layers)
                .numAttentionHeads(2)
                .numKeyValueHeads(1)
                .rmsNormEps(1e-5)
                .tieWordEmbeddings(false)
                .build();
    }

    static LlamaForCausalLM llama(NDManager m, long seed, int layers) {
        LlamaForCausalLM model = new LlamaForCausalLM(llamaConfig(layers));
        model.initialize(m, DataType.FLOAT32, new Shape(1, 4));
        fill(model, seed);
        return model;
    }

    static BertConfig bertConfig(int layers) {
        return BertConfig.builder()
                .vocabSize(VOCAB)
                .hiddenSize(HIDDEN)
                .numHiddenLayers(layers)
                .numAttentionHeads(2)
                .intermediateSize(24)
                .maxPositionEmbeddings(16)
                .typeVocabSize(2)
                .hiddenDropoutProb(0)
                .attentionProbsDropoutProb(0)
                .addPoolingLayer(false)
                .build();
    }

    static BertModel bert(NDManager m, long seed, int layers) {
        BertModel model = new BertModel(bertConfig(layers));
        model.initialize(m, DataType.FLOAT32, new Shape(1, 4));
        fill(model, seed);
        return model;
    }

    /** A tiny BERT with a pooler and a 2-class {@code classifier} head. */
    static io.peft4j.models.BertForSequenceClassification bertClassifier(
            NDManager m, long seed, int layers) {
        BertConfig c = bertConfig(layers).toBuilder().numLabels(2).addPoolingLayer(true).build();
        io.peft4j.models.BertForSequenceClassification model =
                new io.peft4j.models.BertForSequenceClassification(c);
        model.initialize(m, DataType.FLOAT32, new Shape(1, 4));
        fill(model, seed);
        return model;
    }

    /** Matrices N(0, 0.3); vectors (norms, biases) keep their init plus N(0, 0.05). */
    static void fill(Block block, long seed) {
        Random random = new Random(seed);
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray a = p.getValue().getArray();
            float[] v = a.toFloatArray();
            double std = a.getShape().dimension() >= 2 ? 0.3 : 0.05;
            for (int i = 0; i < v.length; i++) {
                v[i] =
                        (a.getShape().dimension() >= 2 ? 0 : v[i])
                                + (float) (random.nextGaussian() * std);
            }
            a.set(v);
        }
    }

    /** Every adapter tensor N(0, std). */
    static void randomize(Adapter adapter, long seed, double std) {
        Random random = new Random(seed);
        for (Parameter p : adapter.parameters().values()) {
            NDArray a = p.getArray();
            float[] v = new float[(int) a.size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (random.nextGaussian() * std);
            }
            a.set(v);
        }
    }

    static NDArray ids(NDManager m, long seed, int batch, int len) {
        Random random = new Random(seed);
        long[] ids = new long[batch * len];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = random.nextInt(VOCAB);
        }
        return m.create(ids, new Shape(batch, len));
    }

    /** Shadow network size for the given resolved dims (independent of the implementation). */
    static long shadowCount(
            ShadowFamily family, int layers, int hs, int inter, int heads, int kv, int baseHidden) {
        long h = hs;
        long hd = hs / heads;
        long perLayer;
        long extra;
        if (family == ShadowFamily.LLAMA) {
            perLayer = 2 * h + 2 * h * h + 2 * kv * hd * h + 3 * h * inter;
            extra = h;
        } else {
            // BERT: q, k, v, o with biases, two LayerNorms, the MLP; DJL's encoder block has the
            // same tensors (two BatchNorms' scales and shifts in place of the LayerNorms)
            perLayer = 4 * (h * h + h) + 4 * h + (h * inter + inter) + (inter * h + h);
            extra = 0;
        }
        long proj = hs == baseHidden ? 0 : 2L * hs * baseHidden;
        return layers * perLayer + extra + proj;
    }

    /** The spec's formula: shadow + (L-1)*2*h*b + (L-1)*4*h*g + 2h. */
    static long adapterCount(long shadow, int numLayers, int h, int b, int g) {
        return shadow
                + (long) (numLayers - 1) * 2 * h * b
                + (long) (numLayers - 1) * 4 * h * g
                + 2L * h;
    }
}
