package io.peft4j.core.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.common.base.Splitter;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ProgressBarTest {

    @Test
    void formatsALine() {
        assertEquals(
                " 42/100 [####------]  42% loss 0.1235 lr 2.00e-04 1234.5 ex/s ETA 0:01:23",
                ProgressBar.formatLine(42, 100, 0.123456f, 2e-4f, 1234.5, 83.4, 10));
        assertEquals(
                "1/3  33% loss 2.5000 lr 1.00e-03",
                ProgressBar.formatLine(1, 3, 2.5f, 1e-3f, Double.NaN, Double.NaN, 0));
        assertEquals(
                "3/3 [##] 100% loss NaN lr 0.00e+00 10.0 ex/s ETA 0:00:00",
                ProgressBar.formatLine(3, 3, Float.NaN, 0f, 10, 0, 2));
        assertEquals("2:03:04", ProgressBar.formatDuration(2 * 3600 + 3 * 60 + 4));
    }

    private static final class Captured {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        final AtomicLong nanos = new AtomicLong();

        String text() {
            return bytes.toString(StandardCharsets.UTF_8);
        }
    }

    private static void run(ProgressBar bar, Captured c, int steps) {
        bar.start(0, 0);
        for (int s = 1; s <= steps; s++) {
            c.nanos.addAndGet(1_000_000_000L); // one second per step
            bar.update(s, 1f / s, 1e-3f, s * 4L);
        }
        bar.finish();
    }

    @Test
    void isQuietWhenNotATerminalAndNoPlainLinesAreAsked() {
        Captured c = new Captured();
        ProgressBar bar =
                ProgressBar.builder()
                        .total(50)
                        .out(c.out)
                        .terminal(false)
                        .clock(c.nanos::get)
                        .build();
        run(bar, c, 50);
        assertEquals("", c.text());
    }

    @Test
    void printsPlainLinesEveryNStepsWithoutCarriageReturns() {
        Captured c = new Captured();
        ProgressBar bar =
                ProgressBar.builder()
                        .total(25)
                        .out(c.out)
                        .terminal(false)
                        .plainEvery(10)
                        .barWidth(0)
                        .clock(c.nanos::get)
                        .build();
        run(bar, c, 25);
        List<String> lines = Splitter.on('\n').splitToList(c.text());
        assertEquals(3, lines.size(), c.text()); // steps 10, 20 and the last, 25
        assertTrue(lines.get(0).startsWith("10/25"), lines.get(0));
        assertTrue(
                lines.get(0).contains("4.0 ex/s") && lines.get(0).contains("ETA 0:00:15"),
                lines.get(0));
        assertTrue(lines.get(2).startsWith("25/25"), lines.get(2));
        assertFalse(c.text().contains("\r"));
    }

    @Test
    void redrawsInPlaceOnATerminalAndEndsTheLine() {
        Captured c = new Captured();
        ProgressBar bar =
                ProgressBar.builder()
                        .total(3)
                        .out(c.out)
                        .terminal(true)
                        .clock(c.nanos::get)
                        .build();
        run(bar, c, 3);
        String text = c.text();
        assertEquals(3, text.chars().filter(ch -> ch == '\r').count(), text);
        assertTrue(text.endsWith("\n"));
        assertEquals(1, text.chars().filter(ch -> ch == '\n').count(), text);
    }

    @Test
    void throttlesTerminalRedrawsButAlwaysDrawsTheLastStep() {
        Captured c = new Captured();
        ProgressBar bar =
                ProgressBar.builder()
                        .total(1000)
                        .out(c.out)
                        .terminal(true)
                        .clock(c.nanos::get)
                        .build();
        bar.start(0, 0);
        for (int s = 1; s <= 1000; s++) {
            c.nanos.addAndGet(1_000_000L); // 1 ms per step: at most one redraw per 100 steps
            bar.update(s, 1f, 1e-3f, s);
        }
        long redraws = c.text().chars().filter(ch -> ch == '\r').count();
        assertTrue(redraws >= 10 && redraws <= 12, "redraws: " + redraws);
        assertTrue(c.text().contains("1000/1000"));
    }

    @Test
    void finishEndsAnUnfinishedLine() {
        Captured c = new Captured();
        ProgressBar bar =
                ProgressBar.builder()
                        .total(10)
                        .out(c.out)
                        .terminal(true)
                        .clock(c.nanos::get)
                        .build();
        bar.start(0, 0);
        bar.update(1, 1f, 1f, 1);
        assertFalse(c.text().endsWith("\n"));
        bar.finish();
        assertTrue(c.text().endsWith("\n"));
    }
}
