/**
 * Adapters on Apache Spark: {@link io.peft4j.spark.DistributedFineTuner} trains an adapter
 * data-parallel in a barrier stage (one worker per partition; only adapter gradients are exchanged,
 * through {@code BarrierTaskContext.allGather}), and {@link io.peft4j.spark.AdapterInference}
 * applies one or several adapters per row over a DataFrame.
 */
package io.peft4j.spark;
