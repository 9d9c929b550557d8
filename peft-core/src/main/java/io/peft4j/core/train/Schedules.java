package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.function.LongToDoubleFunction;

/** Helpers behind {@link LrSchedule}'s factories. */
final class Schedules {

    private Schedules() {}

    static void checkCommon(float peak, long warmup, long total, float minRatio) {
        checkArgument(
                Float.isFinite(peak) && peak >= 0,
                "learning rate must be finite and >= 0, got %s",
                peak);
        checkArgument(warmup >= 0, "warmup steps must be >= 0, got %s", warmup);
        checkArgument(
                total >= warmup, "total steps must be >= warmup steps (%s), got %s", warmup, total);
        checkArgument(
                minRatio >= 0 && minRatio <= 1, "minRatio must be in [0, 1], got %s", minRatio);
    }

    /** Hugging Face's warmup: step / max(1, warmup), so step 0 trains at rate 0. */
    static double warmupFactor(long step, long warmup) {
        return step >= warmup ? 1.0 : (double) step / Math.max(1, warmup);
    }

    /** Fraction of the decay phase done, clamped to [0, 1] so the rate stays at the floor. */
    static double progress(long step, long warmup, long total) {
        double p = (double) (step - warmup) / Math.max(1, total - warmup);
        return Math.min(1.0, Math.max(0.0, p));
    }

    /** A schedule with a readable {@code toString}, for logs and checkpoint metadata. */
    static final class Named implements LrSchedule {
        private final String description;
        private final LongToDoubleFunction function;

        Named(String description, LongToDoubleFunction function) {
            this.description = description;
            this.function = function;
        }

        @Override
        public float at(long step) {
            checkArgument(step >= 0, "step must be >= 0, got %s", step);
            return (float) function.applyAsDouble(step);
        }

        @Override
        public String toString() {
            return description;
        }
    }
}
