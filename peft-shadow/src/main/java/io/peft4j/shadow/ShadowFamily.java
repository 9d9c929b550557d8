package io.peft4j.shadow;

import java.util.Locale;

/** The architecture of the shadow network: the base's family. */
public enum ShadowFamily {
    /**
     * Detect from the base layer's module names ({@code self_attn}/{@code mlp} or {@code
     * attention}/{@code intermediate}).
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
    BERT;

    static ShadowFamily parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "shadow_family \""
                            + s
                            + "\" is unknown; expected \"auto\", \"llama\" or \"bert\"");
        }
    }
}
