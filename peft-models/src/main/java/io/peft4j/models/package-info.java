/**
 * Transformer models to fine-tune, built from DJL blocks with Hugging Face module paths.
 *
 * <ul>
 *   <li>{@link io.peft4j.models.LlamaForCausalLM}: LLaMA / Mistral / Qwen2 decoders (RMSNorm, RoPE
 *       in rotate-half layout with linear scaling, grouped-query attention, SwiGLU, causal and
 *       padding masks, optional q/k/v bias, tied or untied head, KV cache).
 *   <li>{@link io.peft4j.models.BertModel} and {@link
 *       io.peft4j.models.BertForSequenceClassification}: post-LN BERT encoders with exact GELU,
 *       padding masks, pooler and classifier.
 *   <li>{@link io.peft4j.models.HfCheckpoint}: load/save Hugging Face folders (config.json +
 *       safetensors, sharded or not), strictly by name and shape.
 *   <li>{@link io.peft4j.models.OnnxImport}: weights of a BERT ONNX export under Hugging Face
 *       names.
 *   <li>{@link io.peft4j.models.TextTokenizer}, {@link io.peft4j.models.Generator}: tokenizer.json
 *       tokenizers and greedy/sampled generation.
 *   <li>{@link io.peft4j.core.model.LayerStack}: embeddings, layers, final norm, head — for methods
 *       that work between layers.
 * </ul>
 *
 * <p>Every submodule is registered with {@code addChildBlock(<Hugging Face name>, block)} and held
 * in a non-final field typed {@code Block} that forward calls through, so a module can be swapped
 * for an adapter wrapper; {@link io.peft4j.models.ModulePaths} lists parameters by Hugging Face
 * name.
 */
package io.peft4j.models;
