package io.peft4j.shadow;

import io.peft4j.core.spi.ConfigJson;

/** The architecture of the shadow network: the base's family. */
public enum ShadowFamily {
    /**
     * Detect from the base layer's module names ({@code self_attn}/{@code mlp} or {@code
     * attention}/{@code intermediate}), or DJL when the layers are DJL {@code
     * TransformerEncoderBlock}s.
     */
    AUTO,
    /**
     * LLaMA decoder layers: pre-norm RMSNorm, rotary positions and the causal/padding mask taken
     * from the base layer's context, grouped-query attention, SwiGLU MLP, no biases, a final
     * RMSNorm.
     */
    LLAMA,
    /**
     * BERT encoder layers: post-LN, bidirectional attention with the base's padding mask, biases,
     * exact GELU MLP, no final norm (the last layer already ends in a LayerNorm).
     */
    BERT,
    /**
     * DJL's own {@code TransformerEncoderBlock} (post-norm with BatchNorm, biases, the base's
     * feed-forward activation), built at the shadow width; the family of a DJL {@code
     * SequentialBlock} of {@code TransformerEncoderBlock}s. The base's optional attention mask (its
     * layer-0 input after the hidden state) goes to every shadow layer; there is no final norm. The
     * shadow's BatchNorm running statistics update in training passes and are saved with the
     * adapter.
     */
    DJL;

    static ShadowFamily parse(String s) {
        return ConfigJson.enumValue(ShadowFamily.class, s, "SHADOW shadow_family");
    }
}
