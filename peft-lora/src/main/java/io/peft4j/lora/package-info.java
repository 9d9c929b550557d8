/**
 * LoRA: low-rank adapters on {@code Linear} and embedding modules, with rsLoRA scaling, Gaussian,
 * PiSSA and DoRA variants ({@link io.peft4j.lora.LoraConfig}, {@link io.peft4j.lora.LoraLinear},
 * {@link io.peft4j.lora.LoraEmbedding}), saved and loaded in Hugging Face peft's format. As in
 * Hugging Face peft, the layers delegate to strategies the config selects: a variant (plain LoRA,
 * DoRA) for forward, merge and unmerge, an initializer for how A and B start (PiSSA included), and
 * a scaling (rsLoRA).
 */
package io.peft4j.lora;
