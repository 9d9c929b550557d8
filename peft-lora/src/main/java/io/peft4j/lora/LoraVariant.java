package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import io.peft4j.core.spi.LayerCall;
import java.util.Map;

/**
 * What one LoRA adapter computes in one layer on top of its A and B, as Hugging Face peft's {@code
 * LoraVariant} ({@code peft/tuners/lora/variants.py}): the forward contribution, the merged weight,
 * the unmerge, and any tensors of its own. Plain LoRA is one ({@link PlainLoraVariant}), DoRA
 * another ({@link DoraLinearVariant}). A layer's entry holds one instance, made by the {@link
 * Choice} that {@link LoraConfig#variant()} selects, and delegates to it; a new variant is one new
 * class plus its selection there.
 */
abstract class LoraVariant {

    /** A variant as the config selects it: its name, where it applies, how it is made. */
    interface Choice extends LoraStrategy {

        /**
         * Makes the variant of one adapter in one layer, once A and B hold their initial values.
         *
         * @param layer the layer the adapter is being put into
         * @param w the adapter's A, B and scale there
         * @param adapterName the adapter's name (parameter names carry it)
         * @return the variant
         */
        LoraVariant create(LoraLayer layer, LoraLayer.Weights w, String adapterName);

        /**
         * The key a tensor of this variant has in peft's current layout, given the key a file uses
         * (older peft versions named some differently).
         *
         * @param fileKey the key in the file
         * @return the current key
         */
        default String canonicalKey(String fileKey) {
            return fileKey;
        }
    }

    /**
     * {@return the variant's own trainable tensors, by the key suffix peft's file gives them after
     * the module path (without the leading dot); empty for plain LoRA}
     */
    Map<String, Parameter> parameters() {
        return Map.of();
    }

    /**
     * Whether the output is the base output plus {@code s B A x} alone, so that inference may run
     * the folded weight {@code x (W + s B A)^T} instead ({@link LoraLinear}).
     *
     * @return whether the plain low-rank sum is all the variant adds
     */
    boolean isPlainSum() {
        return false;
    }

    /**
     * The layer's output with this adapter: {@code baseOut} plus its contribution, on the samples
     * where {@code rowMask} is 1 (all when it is {@code null}); other samples keep their rows.
     *
     * @param layer the layer
     * @param w the adapter's A, B and scale
     * @param baseOut the base module's output (with earlier adapters of a mixed batch blended in)
     * @param rowMask (batch, 1, ...) of 0 and 1, or {@code null}
     * @param call the layer's forward call (its input, parameter store and training flag)
     * @return the output
     */
    abstract NDArray forward(
            LoraLayer layer, LoraLayer.Weights w, NDArray baseOut, NDArray rowMask, LayerCall call);

    /**
     * A new array: the layer's base weight with the adapter folded in (peft's {@code merge_safe});
     * the base weight itself is not changed. State needed to unmerge exactly may be kept.
     *
     * @param layer the layer
     * @param w the adapter's A, B and scale
     * @return the merged weight
     */
    abstract NDArray mergedWeight(LoraLayer layer, LoraLayer.Weights w);

    /**
     * Takes the merged adapter out of the layer's base weight, in place (peft's {@code unmerge}).
     *
     * @param layer the layer
     * @param w the adapter's A, B and scale
     */
    abstract void unmerge(LoraLayer layer, LoraLayer.Weights w);

    /** Frees the variant's own tensors when its adapter leaves the layer. */
    void close() {}

    /**
     * {@code baseOut + delta}, or {@code baseOut + delta * rowMask} on a mixed batch.
     *
     * @param baseOut the output so far
     * @param delta the adapter's contribution on every sample
     * @param rowMask (batch, 1, ...) of 0 and 1, or {@code null}
     * @return the sum
     */
    static NDArray addMasked(NDArray baseOut, NDArray delta, NDArray rowMask) {
        return baseOut.add(rowMask == null ? delta : delta.mul(rowMask));
    }
}
