/**
 * The fine-tuning loop: {@link io.peft4j.core.train.FineTuner} drives a {@link
 * io.peft4j.core.train.TrainableModel} through a {@link io.peft4j.core.train.LossFunction} over
 * {@link io.peft4j.core.train.TrainingData}, updating only the model's trainable parameters with a
 * {@link io.peft4j.core.train.PeftOptimizer} (by default {@link io.peft4j.core.train.AdamW}).
 *
 * <p>Runs are reproducible and resumable: the data order and the engine's random seed at every
 * optimiser step are pure functions of (seed, step), so a run resumed from a checkpoint follows the
 * uninterrupted run's loss curve.
 */
package io.peft4j.core.train;
