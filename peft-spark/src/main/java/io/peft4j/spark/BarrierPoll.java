package io.peft4j.spark;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.apache.spark.BarrierTaskContext;

/**
 * Spark's {@code allGather} without its one-second poll. Spark 4.1's {@code
 * BarrierTaskContext.runBarrier} waits for the coordinator's reply in a loop of {@code
 * Thread.sleep(1000)}, catching {@code InterruptedException} and checking after each wake whether
 * the task was killed or the reply has come. A collective therefore costs up to a second even when
 * every worker arrives at once, which would dominate an adapter training step. This helper wakes
 * that sleep every {@code pollMillis} by interrupting the task thread, only while the thread is
 * sleeping inside {@code BarrierTaskContext}, and clears the interrupt flag afterwards. Spark's own
 * kill check is untouched: a killed task still stops (it reads the kill reason, not the flag).
 */
final class BarrierPoll {

    private static volatile ScheduledExecutorService waker;

    private BarrierPoll() {}

    static String[] allGather(BarrierTaskContext context, String message, int pollMillis) {
        if (pollMillis <= 0) {
            return context.allGather(message);
        }
        Thread caller = Thread.currentThread();
        Object lock = new Object();
        boolean[] done = {false};
        ScheduledFuture<?> poke =
                waker().scheduleWithFixedDelay(
                                () -> {
                                    synchronized (lock) {
                                        if (!done[0]
                                                && caller.getState() == Thread.State.TIMED_WAITING
                                                && sleepsInBarrier(caller)) {
                                            caller.interrupt();
                                        }
                                    }
                                },
                                pollMillis,
                                pollMillis,
                                TimeUnit.MILLISECONDS);
        try {
            return context.allGather(message);
        } finally {
            synchronized (lock) {
                done[0] = true; // under the lock: no interrupt can land after this
            }
            poke.cancel(false);
            Thread.interrupted(); // a wake that arrived as the reply did
        }
    }

    private static boolean sleepsInBarrier(Thread thread) {
        StackTraceElement[] stack = thread.getStackTrace();
        boolean sleeping = false;
        for (int i = 0; i < Math.min(stack.length, 8); i++) {
            String frame = stack[i].getClassName() + "." + stack[i].getMethodName();
            if (frame.equals("java.lang.Thread.sleep")) {
                sleeping = true;
            } else if (sleeping
                    && stack[i].getClassName().startsWith("org.apache.spark.BarrierTaskContext")) {
                return true;
            }
        }
        return false;
    }

    private static ScheduledExecutorService waker() {
        ScheduledExecutorService w = waker;
        if (w == null) {
            synchronized (BarrierPoll.class) {
                if (waker == null) {
                    waker =
                            Executors.newSingleThreadScheduledExecutor(
                                    r -> {
                                        Thread t = new Thread(r, "peft-spark-barrier-poll");
                                        t.setDaemon(true);
                                        return t;
                                    });
                }
                w = waker;
            }
        }
        return w;
    }
}
