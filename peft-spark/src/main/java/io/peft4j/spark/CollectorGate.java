package io.peft4j.spark;

import java.util.concurrent.locks.ReentrantLock;

/**
 * One training task computing at a time per JVM. DJL 0.35's PyTorch gradient collector is a
 * process-wide singleton ("Only one can be collecting at a time"), so two training tasks that share
 * an executor JVM (always so under {@code local[N]}) must take turns computing. A worker holds the
 * gate while it loads, computes and checkpoints, and lets go while it waits in a collective, so the
 * other task can compute and reach the barrier. With one training task per executor (a cluster with
 * {@code spark.task.cpus} = executor cores) the gate is never contended.
 */
final class CollectorGate {

    private static final ReentrantLock LOCK = new ReentrantLock(true);

    private CollectorGate() {}

    /** Takes the gate; a killed task (interrupted) stops waiting. */
    static void enter() {
        try {
            LOCK.lockInterruptibly();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(
                    "interrupted while waiting to compute (task killed)", e);
        }
    }

    /** Lets go of the gate if this thread holds it. */
    static void leave() {
        if (LOCK.isHeldByCurrentThread()) {
            LOCK.unlock();
        }
    }
}
