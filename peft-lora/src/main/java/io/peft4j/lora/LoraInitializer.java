package io.peft4j.lora;

import io.peft4j.core.spi.AdapterParameters;
import java.util.Random;

/**
 * How a new adapter's A and B start: one of Hugging Face peft's {@code init_lora_weights} choices
 * ({@link LoraInit} names them; {@link LoraConfig#initializer()} selects the strategy). It gives
 * the starting values for each kind of module and may then rework the adapter and the base weight
 * once the adapter is in its layer (PiSSA). A new init is one new class plus its selection there.
 */
abstract class LoraInitializer implements LoraStrategy {

    /** Every init but the residual ones (PiSSA, OLoRA) also starts embedding tables. */
    @Override
    public boolean supportsEmbeddings() {
        return true;
    }

    /**
     * Starting values of a Linear's {@code lora_A} (r, in) and {@code lora_B} (out, r), row-major.
     *
     * @param random the adapter's seeded source (draw A before B: the values depend on it)
     * @param r the rank
     * @param in the input features
     * @param out the output features
     * @return {A, B}
     */
    abstract float[][] linear(Random random, int r, long in, long out);

    /**
     * Starting values of an embedding's {@code lora_embedding_A} (r, vocab) and {@code
     * lora_embedding_B} (dim, r), row-major.
     *
     * @param random the adapter's seeded source (draw A before B)
     * @param r the rank
     * @param vocab the table's rows
     * @param dim the table's columns
     * @return {A, B}
     */
    float[][] embedding(Random random, int r, long vocab, long dim) {
        // peft's reset_lora_parameters for every init but false: A zero, B standard normal
        return new float[][] {
            new float[Math.toIntExact(r * vocab)], AdapterParameters.gaussian(random, dim * r, 1.0)
        };
    }

    /**
     * Reworks the adapter (and the base weight) once it is in its layer and its variant is set up;
     * what it takes out of the base weight goes to {@link LoraLayer.Weights#setBaseShift} so that
     * detaching puts it back ({@link ResidualInit}). Nothing by default.
     *
     * @param path the module's path, for errors
     * @param layer the layer
     * @param w the adapter's entry there
     */
    void afterAttach(String path, LoraLayer layer, LoraLayer.Weights w) {}
}
