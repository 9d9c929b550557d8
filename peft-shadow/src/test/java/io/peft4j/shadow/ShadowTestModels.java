package io.peft4j.shadow;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import io.peft4j.core.spi.Adapter;
import io.peft4j.models.BertConfig;
import io.peft4j.models.BertForSequenceClassification;
import io.peft4j.models.BertModel;
import io.peft4j.models.LlamaForCausalLM;
import io.peft4j.testing.TinyModels;
import java.util.Random;

/**
 * Shadow's test models: tiny random LLaMA and BERT bases from the shared test fixtures ({@link
 * TinyModels}, weights depending only on a seed), and the parameter-count formulas.
 */
final class ShadowTestModels {

    static final int VOCAB = TinyModels.VOCAB;
    static final int HIDDEN = TinyModels.HIDDEN;

    private ShadowTestModels() {}

    static LlamaForCausalLM llama(NDManager m, long seed, int layers) {
        return TinyModels.seeded(
                new LlamaForCausalLM(TinyModels.llamaConfig(layers).build()), m, seed);
    }

    static BertModel bert(NDManager m, long seed, int layers) {
        return TinyModels.seeded(new BertModel(TinyModels.bertConfig(layers).build()), m, seed);
    }

    /** A tiny BERT with a pooler and a 2-class {@code classifier} head. */
    static BertForSequenceClassification bertClassifier(NDManager m, long seed, int layers) {
        BertConfig c = TinyModels.bertConfig(layers).numLabels(2).addPoolingLayer(true).build();
        return TinyModels.seeded(new BertForSequenceClassification(c), m, seed);
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
        return TinyModels.ids(m, seed, batch, len, VOCAB);
    }

    /** Shadow network size for the given resolved dims (independent of the implementation). */
    static long shadowCount(
            ShadowFamily family, int layers, int hs, int inter, int heads, int kv, int baseHidden) {
        long h = hs;
        long hd = hs / heads;
        long perLayer;
        long extra;
        if (family == ShadowFamily.LLAMA) {
            perLayer = 2 * h + 2 * h * h + 2L * kv * hd * h + 3 * h * inter;
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
