package io.peft4j.lora;

/** How LoRA's A and B start (Hugging Face peft's {@code init_lora_weights}). */
public enum LoraInit {
    /** A Kaiming-uniform (bound 1/sqrt(in)), B = 0: the adapter starts as the identity. */
    DEFAULT,
    /** A ~ N(0, (1/r)^2), B = 0. */
    GAUSSIAN,
    /**
     * PiSSA: A and B from the top-r singular triplets of W, and W replaced by the residual {@code W
     * - s B A}, so the start is still exact. The saved adapter needs that residual base.
     */
    PISSA,
    /**
     * {@code init_lora_weights=false}: A and B both random, so the adapter changes the outputs from
     * the start. For tests and debugging, as in Hugging Face peft.
     */
    RANDOM,
    /**
     * OLoRA ({@code init_lora_weights="olora"}): B the first r columns of Q and A the first r rows
     * of R in W's QR decomposition, and W replaced by the residual {@code W - s B A}, so the start
     * is still exact. Like PiSSA, the saved adapter needs that residual base.
     */
    OLORA
}
