/**
 * LIFT: sparse tuning of the principal weights, the entries chosen by a low-rank approximation of
 * each weight, trained with a sparse Adam ({@link io.peft4j.lift.LiftConfig}, {@link
 * io.peft4j.lift.LiftOptimizer}).
 */
package io.peft4j.lift;
