package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
import io.peft4j.core.ops.Scalars;
import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.LayerCall;
import java.util.Random;

/**
 * LoRA on an embedding table {@code E} (vocab, dim): {@code E' = E + s (B A)^T}, with {@code
 * lora_embedding_A} (r, vocab) and {@code lora_embedding_B} (dim, r), as peft. Dropout does not
 * apply to token ids.
 */
public final class LoraEmbedding extends LoraLayer {

    private final Parameter table;

    LoraEmbedding(Block base, Parameter table, AdapterRuntime runtime) {
        super(base, runtime);
        this.table = table;
    }

    long vocabSize() {
        return table.getArray().getShape().get(0);
    }

    long embeddingDim() {
        return table.getArray().getShape().get(1);
    }

    @Override
    public Parameter baseWeight() {
        return table;
    }

    @Override
    NDArray addLowRank(Weights w, NDArray baseOut, NDArray rowMask, LayerCall call) {
        NDArray a = call.value(w.a); // on the ids' device, which is the output's
        NDArray b = call.value(w.b);
        NDArray afterA =
                Embedding.embedding(call.input(), a.transpose(), SparseFormat.DENSE)
                        .head(); // (..., r)
        NDArray delta = Scalars.mul(afterA.matMul(b.transpose()), w.scaling);
        return LoraVariant.addMasked(baseOut, delta, rowMask);
    }

    @Override
    NDArray weightDelta(Weights w) {
        try (NDArray product = w.b.getArray().matMul(w.a.getArray());
                NDArray transposed = product.transpose()) {
            return Scalars.mul(
                    transposed, w.scaling); // intermediates freed: see LoraLinear.weightDelta
        }
    }

    @Override
    Shape aShape(int r) {
        return new Shape(r, vocabSize());
    }

    @Override
    Shape bShape(int r) {
        return new Shape(embeddingDim(), r);
    }

    @Override
    String aName() {
        return "lora_embedding_A";
    }

    @Override
    String bName() {
        return "lora_embedding_B";
    }

    @Override
    String fileKey(String tensorName) {
        return tensorName;
    }

    @Override
    float[][] initialValues(LoraInitializer init, Random random, int r) {
        return init.embedding(random, r, vocabSize(), embeddingDim());
    }
}
