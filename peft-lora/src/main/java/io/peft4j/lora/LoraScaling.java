package io.peft4j.lora;

/** How the adapter's scale {@code s} follows from alpha and the rank ({@code use_rslora}). */
enum LoraScaling {
    /** {@code alpha / r}: LoRA's scale. */
    STANDARD {
        @Override
        float of(float alpha, int rank) {
            return alpha / rank;
        }
    },
    /** {@code alpha / sqrt(r)}: rank-stabilized LoRA (rsLoRA), peft's {@code use_rslora}. */
    RANK_STABILIZED {
        @Override
        float of(float alpha, int rank) {
            return (float) (alpha / Math.sqrt(rank));
        }
    };

    /**
     * The scale of a module with these settings.
     *
     * @param alpha its {@code lora_alpha}
     * @param rank its rank
     * @return the scale {@code s}
     */
    abstract float of(float alpha, int rank);
}
