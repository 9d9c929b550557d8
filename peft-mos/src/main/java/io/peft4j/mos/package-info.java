/**
 * Mixture of Shards (MoS): LoRA whose low-rank factors are drawn from shard pools shared across
 * layers per projection type ({@link io.peft4j.mos.MosConfig}, {@code MosPool}), with export to
 * plain LoRA.
 */
package io.peft4j.mos;
