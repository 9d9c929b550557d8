package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;

/**
 * A learning rate as a function of the optimiser step.
 *
 * <p>Steps are 0-based: {@code at(s)} is the rate used by the update of step {@code s}. The warmup
 * and decay formulas are those of Hugging Face transformers' {@code get_*_schedule_with_warmup}, so
 * {@code at(0)} is 0 when there is warmup, and {@code at(warmup)} is the peak.
 */
@FunctionalInterface
public interface LrSchedule {

    /**
     * Returns the learning rate of a step.
     *
     * @param step the 0-based optimiser step
     * @return the learning rate
     */
    float at(long step);

    /**
     * Returns a constant learning rate.
     *
     * @param learningRate the rate, finite and non-negative
     * @return the schedule
     */
    static LrSchedule constant(float learningRate) {
        return warmupConstant(learningRate, 0);
    }

    /**
     * Returns a linear warmup from 0 to the peak over {@code warmup} steps, then the peak.
     *
     * @param peak the rate after warmup
     * @param warmup the number of warmup steps, at least 0
     * @return the schedule
     */
    static LrSchedule warmupConstant(float peak, long warmup) {
        Schedules.checkCommon(peak, warmup, warmup, 0f);
        return new Schedules.Named(
                String.format("constant(peak=%s, warmup=%d)", peak, warmup),
                step -> Schedules.warmupFactor(step, warmup) * peak);
    }

    /**
     * Returns a linear warmup to the peak, then a half-cosine decay to {@code minRatio * peak} at
     * step {@code total}, constant afterwards.
     *
     * @param peak the rate at the end of warmup
     * @param warmup the number of warmup steps, in {@code [0, total]}
     * @param total the step at which the decay reaches its floor (usually the number of steps)
     * @param minRatio the floor as a fraction of the peak, in {@code [0, 1]}
     * @return the schedule
     */
    static LrSchedule warmupCosine(float peak, long warmup, long total, float minRatio) {
        Schedules.checkCommon(peak, warmup, total, minRatio);
        return new Schedules.Named(
                String.format(
                        "cosine(peak=%s, warmup=%d, total=%d, minRatio=%s)",
                        peak, warmup, total, minRatio),
                step -> {
                    if (step < warmup) {
                        return Schedules.warmupFactor(step, warmup) * peak;
                    }
                    double progress = Schedules.progress(step, warmup, total);
                    double cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
                    return (minRatio + (1 - minRatio) * cosine) * peak;
                });
    }

    /**
     * Returns a linear warmup to the peak, then a linear decay to {@code minRatio * peak} at step
     * {@code total}, constant afterwards.
     *
     * @param peak the rate at the end of warmup
     * @param warmup the number of warmup steps, in {@code [0, total]}
     * @param total the step at which the decay reaches its floor (usually the number of steps)
     * @param minRatio the floor as a fraction of the peak, in {@code [0, 1]}; 0 as in Hugging Face
     * @return the schedule
     */
    static LrSchedule warmupLinear(float peak, long warmup, long total, float minRatio) {
        Schedules.checkCommon(peak, warmup, total, minRatio);
        return new Schedules.Named(
                String.format(
                        "linear(peak=%s, warmup=%d, total=%d, minRatio=%s)",
                        peak, warmup, total, minRatio),
                step -> {
                    if (step < warmup) {
                        return Schedules.warmupFactor(step, warmup) * peak;
                    }
                    double remaining = 1 - Schedules.progress(step, warmup, total);
                    return (minRatio + (1 - minRatio) * remaining) * peak;
                });
    }

    /** The shapes of schedule {@link FineTuner} builds once it knows the number of steps. */
    enum Kind {
        /** Warmup, then constant. */
        CONSTANT,
        /** Warmup, then linear decay. */
        LINEAR,
        /** Warmup, then cosine decay. */
        COSINE;

        /**
         * Builds the schedule of this kind.
         *
         * @param peak the rate after warmup
         * @param warmup the number of warmup steps
         * @param total the number of steps of the run
         * @param minRatio the floor of the decay as a fraction of the peak (ignored by CONSTANT)
         * @return the schedule
         */
        public LrSchedule create(float peak, long warmup, long total, float minRatio) {
            switch (this) {
                case LINEAR:
                    return warmupLinear(peak, warmup, total, minRatio);
                case COSINE:
                    return warmupCosine(peak, warmup, total, minRatio);
                default:
                    checkArgument(
                            warmup <= total,
                            "warmup must be at most the %s total steps, got %s",
                            total,
                            warmup);
                    return warmupConstant(peak, warmup);
            }
        }
    }
}
