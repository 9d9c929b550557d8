package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import io.peft4j.core.spi.LayerCall;

/**
 * Plain LoRA: {@code y = base(x) + s B A dropout(x)}; merging adds {@code s B A} to the base weight
 * and unmerging subtracts it. The layer computes the low-rank term for its kind of module ({@link
 * LoraLayer#addLowRank}); this variant adds nothing of its own.
 */
final class PlainLoraVariant extends LoraVariant {

    /** The selection for configs without {@code use_dora}. */
    static final Choice CHOICE =
            new Choice() {
                @Override
                public String name() {
                    return "LoRA";
                }

                @Override
                public boolean supportsEmbeddings() {
                    return true;
                }

                @Override
                public LoraVariant create(
                        LoraLayer layer, LoraLayer.Weights w, String adapterName) {
                    return INSTANCE; // stateless: one serves every entry
                }
            };

    private static final PlainLoraVariant INSTANCE = new PlainLoraVariant();

    private PlainLoraVariant() {}

    @Override
    boolean isPlainSum() {
        return true;
    }

    @Override
    NDArray forward(
            LoraLayer layer,
            LoraLayer.Weights w,
            NDArray baseOut,
            NDArray rowMask,
            LayerCall call) {
        return layer.addLowRank(w, baseOut, rowMask, call);
    }

    @Override
    NDArray mergedWeight(LoraLayer layer, LoraLayer.Weights w) {
        try (NDArray delta = layer.weightDelta(w)) {
            return layer.baseWeight().getArray().add(delta);
        }
    }

    @Override
    void unmerge(LoraLayer layer, LoraLayer.Weights w) {
        try (NDArray delta = layer.weightDelta(w)) {
            layer.baseWeight().getArray().subi(delta);
        }
    }
}
