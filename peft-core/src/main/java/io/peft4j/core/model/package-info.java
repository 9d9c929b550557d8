/**
 * Model-shape interfaces methods can rely on without knowing a concrete model: {@link
 * io.peft4j.core.model.LayerStack} (embeddings, layers, final norm, head) and {@link
 * io.peft4j.core.model.LayerHook}.
 */
package io.peft4j.core.model;
