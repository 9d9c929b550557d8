package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;

import java.io.Console;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.util.Locale;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * A console progress line: step/total, a bar, loss, learning rate, examples per second and ETA.
 *
 * <p>On a terminal it redraws one line in place with {@code \r} (at most every 100 ms, and always
 * at the last step). Elsewhere (CI logs, files, IDE consoles) it never uses {@code \r}: it prints a
 * plain line every {@code plainEvery} steps and at the last step, or nothing when {@code
 * plainEvery} is 0.
 *
 * <pre>{@code
 * 42/100 [############----------------]  42% loss 0.1234 lr 2.00e-04 1234.5 ex/s ETA 0:01:23
 * }</pre>
 */
public final class ProgressBar {

    private static final long REDRAW_NANOS = 100_000_000L;

    private final long total;
    private final PrintStream out;
    private final boolean terminal;
    private final long plainEvery;
    private final int barWidth;
    private final LongSupplier clock;

    private long startStep = -1;
    private long startExamples;
    private long startNanos;
    private long lastDrawNanos;
    private boolean drewInPlace;

    private ProgressBar(Builder builder) {
        this.total = builder.total;
        this.out = builder.out;
        this.terminal = builder.terminal != null ? builder.terminal : isTerminal();
        this.plainEvery = builder.plainEvery;
        this.barWidth = builder.barWidth;
        this.clock = builder.clock;
    }

    /**
     * Returns a builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Whether the JVM is attached to an interactive terminal. Java 22+ returns a console even when
     * output is redirected, so {@code Console.isTerminal()} (22+) is asked when it exists.
     *
     * @return true on an interactive terminal
     */
    // Java 17: System.console() is null when stdin or stdout is not a terminal (on 22+ it never
    // is; isTerminal() answers there, and this project runs on 17).
    @SuppressWarnings("SystemConsoleNull")
    public static boolean isTerminal() {
        Console console = System.console();
        if (console == null) {
            return false;
        }
        try {
            Method isTerminal = Console.class.getMethod("isTerminal");
            return (Boolean) isTerminal.invoke(console);
        } catch (ReflectiveOperationException e) {
            return true; // before Java 22 a console exists only on a terminal
        }
    }

    /**
     * Sets the baseline of the rate and the ETA: call it just before the first step (a resumed run
     * passes the step it resumes from, so the skipped steps do not count as fast ones).
     *
     * @param completedSteps the steps already completed
     * @param examples the examples already seen
     */
    public void start(long completedSteps, long examples) {
        startStep = completedSteps;
        startExamples = examples;
        startNanos = clock.getAsLong();
    }

    /**
     * Reports progress after an optimiser step. Without a {@link #start} call, the first update
     * sets the baseline and shows no rate yet.
     *
     * @param step the number of steps completed, in [1, total]
     * @param loss the loss of the step
     * @param learningRate the learning rate of the step
     * @param examples the number of examples seen so far
     */
    public void update(long step, float loss, float learningRate, long examples) {
        long now = clock.getAsLong();
        if (startStep < 0) {
            startStep = step;
            startExamples = examples;
            startNanos = now;
        }
        boolean last = step >= total;
        if (terminal) {
            if (!last && drewInPlace && now - lastDrawNanos < REDRAW_NANOS) {
                return;
            }
            out.print('\r' + line(step, loss, learningRate, examples, now));
            if (last) {
                out.println();
            }
            out.flush();
            drewInPlace = !last;
            lastDrawNanos = now;
        } else if (plainEvery > 0 && (step % plainEvery == 0 || last)) {
            out.println(line(step, loss, learningRate, examples, now));
            out.flush();
        }
    }

    /** Ends an in-place line that was not finished by the last step (e.g. an early stop). */
    public void finish() {
        if (drewInPlace) {
            out.println();
            out.flush();
            drewInPlace = false;
        }
    }

    private String line(long step, float loss, float learningRate, long examples, long now) {
        double seconds = (now - startNanos) / 1e9;
        long stepsDone = step - startStep;
        double examplesPerSecond = seconds > 0 ? (examples - startExamples) / seconds : Double.NaN;
        double eta = stepsDone > 0 ? seconds / stepsDone * (total - step) : Double.NaN;
        return formatLine(step, total, loss, learningRate, examplesPerSecond, eta, barWidth);
    }

    /**
     * Formats one progress line (a pure function, no trailing newline).
     *
     * @param step the steps completed
     * @param total the steps of the run, > 0
     * @param loss the loss of the last step
     * @param learningRate the learning rate of the last step
     * @param examplesPerSecond the throughput, NaN when not yet known
     * @param etaSeconds the estimated seconds left, NaN when not yet known
     * @param barWidth the number of characters inside the brackets, 0 for no bar
     * @return the line
     */
    public static String formatLine(
            long step,
            long total,
            float loss,
            float learningRate,
            double examplesPerSecond,
            double etaSeconds,
            int barWidth) {
        checkArgument(total > 0, "total must be > 0, got %s", total);
        checkArgument(barWidth >= 0, "barWidth must be >= 0, got %s", barWidth);
        double fraction = Math.min(1.0, Math.max(0.0, (double) step / total));
        int digits = Long.toString(total).length();
        StringBuilder sb = new StringBuilder(96);
        sb.append(String.format(Locale.ROOT, "%" + digits + "d/%d", step, total));
        if (barWidth > 0) {
            int filled = (int) Math.floor(fraction * barWidth);
            sb.append(" [")
                    .append("#".repeat(filled))
                    .append("-".repeat(barWidth - filled))
                    .append(']');
        }
        sb.append(String.format(Locale.ROOT, " %3d%%", (int) Math.floor(fraction * 100)));
        sb.append(String.format(Locale.ROOT, " loss %.4f", loss));
        sb.append(String.format(Locale.ROOT, " lr %.2e", learningRate));
        if (Double.isFinite(examplesPerSecond)) {
            sb.append(String.format(Locale.ROOT, " %.1f ex/s", examplesPerSecond));
        }
        if (Double.isFinite(etaSeconds)) {
            sb.append(" ETA ").append(formatDuration(etaSeconds));
        }
        return sb.toString();
    }

    /** Formats seconds as {@code h:mm:ss}. */
    static String formatDuration(double seconds) {
        long s = Math.max(0, Math.round(seconds));
        return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
    }

    /** Builds a {@link ProgressBar}. */
    public static final class Builder {
        private long total = -1;
        private PrintStream out = System.err;
        private Boolean terminal;
        private long plainEvery;
        private int barWidth = 30;
        private LongSupplier clock = System::nanoTime;

        private Builder() {}

        /**
         * Sets the number of steps of the run.
         *
         * @param total the number of steps, > 0
         * @return this builder
         */
        public Builder total(long total) {
            checkArgument(total > 0, "total must be > 0, got %s", total);
            this.total = total;
            return this;
        }

        /**
         * Sets where lines go (default {@code System.err}, as tqdm).
         *
         * @param out the stream
         * @return this builder
         */
        public Builder out(PrintStream out) {
            this.out = Objects.requireNonNull(out, "out");
            return this;
        }

        /**
         * Forces terminal mode on or off instead of detecting it.
         *
         * @param terminal true to redraw in place, false for plain lines
         * @return this builder
         */
        public Builder terminal(boolean terminal) {
            this.terminal = terminal;
            return this;
        }

        /**
         * Sets how often to print a plain line when not on a terminal (default 0: never).
         *
         * @param plainEvery a line every this many steps, 0 for none
         * @return this builder
         */
        public Builder plainEvery(long plainEvery) {
            checkArgument(plainEvery >= 0, "plainEvery must be >= 0, got %s", plainEvery);
            this.plainEvery = plainEvery;
            return this;
        }

        /**
         * Sets the width of the bar in characters (default 30, 0 for none).
         *
         * @param barWidth the width
         * @return this builder
         */
        public Builder barWidth(int barWidth) {
            checkArgument(barWidth >= 0, "barWidth must be >= 0, got %s", barWidth);
            this.barWidth = barWidth;
            return this;
        }

        /** Sets the nanosecond clock; tests use a fake one. */
        Builder clock(LongSupplier clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * Builds the bar.
         *
         * @return the bar
         */
        public ProgressBar build() {
            checkArgument(total > 0, "total must be set to a value > 0, got %s", total);
            return new ProgressBar(this);
        }
    }
}
