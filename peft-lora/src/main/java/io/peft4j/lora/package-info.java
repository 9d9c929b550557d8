/**
 * LoRA: low-rank adapters on {@code Linear} and embedding modules, with rsLoRA scaling, Gaussian,
 * PiSSA and DoRA variants ({@link io.peft4j.lora.LoraConfig}, {@link io.peft4j.lora.LoraLinear},
 * {@link io.peft4j.lora.LoraEmbedding}), saved and loaded in Hugging Face peft's format.
 */
package io.peft4j.lora;
