package io.peft4j.examples.cli;

import io.peft4j.core.io.AtomicFiles;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * Writes a loss curve as CSV ({@code step,loss,smoothed}) and as a PNG line chart, drawn with
 * {@code java.awt} into a {@link BufferedImage} and encoded by {@code javax.imageio}: headless, no
 * dependency (a charting library would add megabytes for one plot). Both files are written
 * atomically.
 */
public final class LossChart {

    private static final int WIDTH = 800;
    private static final int HEIGHT = 450;
    private static final int LEFT = 70;
    private static final int RIGHT = 20;
    private static final int TOP = 40;
    private static final int BOTTOM = 50;

    private LossChart() {}

    /**
     * The exponential moving average HF-style dashboards show (weight 0.9, bias-corrected).
     *
     * @param values the raw curve
     * @return the smoothed curve, same length
     */
    public static double[] smooth(List<Float> values) {
        double[] out = new double[values.size()];
        double ema = 0;
        double weight = 0.9;
        for (int i = 0; i < values.size(); i++) {
            ema = weight * ema + (1 - weight) * values.get(i);
            out[i] = ema / (1 - Math.pow(weight, i + 1));
        }
        return out;
    }

    /**
     * Writes {@code step,loss,smoothed} rows, step counted from 1.
     *
     * @param file the CSV file
     * @param losses the loss of every step
     */
    public static void writeCsv(Path file, List<Float> losses) throws IOException {
        double[] smoothed = smooth(losses);
        StringBuilder sb = new StringBuilder("step,loss,smoothed\n");
        for (int i = 0; i < losses.size(); i++) {
            sb.append(
                    String.format(
                            Locale.ROOT, "%d,%.6f,%.6f%n", i + 1, losses.get(i), smoothed[i]));
        }
        AtomicFiles.writeString(file, sb.toString());
    }

    /**
     * Draws the raw loss (light) and its moving average (dark) against the step.
     *
     * @param file the PNG file
     * @param losses the loss of every step, at least one
     * @param title the chart title
     */
    public static void writePng(Path file, List<Float> losses, String title) throws IOException {
        if (losses.isEmpty()) {
            throw new IllegalArgumentException("no losses to plot");
        }
        System.setProperty("java.awt.headless", "true");
        BufferedImage image = render(losses, title);
        AtomicFiles.write(
                file,
                out -> {
                    if (!ImageIO.write(image, "png", out)) {
                        throw new IOException("no PNG writer in this JVM");
                    }
                });
    }

    static BufferedImage render(List<Float> losses, String title) {
        BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(
                    RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, WIDTH, HEIGHT);
            double[] smoothed = smooth(losses);
            double min = Double.POSITIVE_INFINITY;
            double max = Double.NEGATIVE_INFINITY;
            for (float v : losses) {
                if (Float.isFinite(v)) {
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
            }
            if (!(max > min)) {
                min = min - 0.5;
                max = max + 0.5;
            }
            double pad = (max - min) * 0.05;
            double lo = Math.max(0, min - pad);
            double hi = max + pad;
            int plotW = WIDTH - LEFT - RIGHT;
            int plotH = HEIGHT - TOP - BOTTOM;
            int n = losses.size();
            Font font = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
            g.setFont(font);
            FontMetrics fm = g.getFontMetrics();
            // grid and y labels
            for (int i = 0; i <= 5; i++) {
                double v = lo + (hi - lo) * i / 5;
                int y = TOP + plotH - (int) Math.round(plotH * (v - lo) / (hi - lo));
                g.setColor(new Color(230, 230, 230));
                g.drawLine(LEFT, y, LEFT + plotW, y);
                g.setColor(Color.DARK_GRAY);
                String label = String.format(Locale.ROOT, "%.3g", v);
                g.drawString(label, LEFT - 8 - fm.stringWidth(label), y + fm.getAscent() / 2 - 1);
            }
            // x labels
            for (int i = 0; i <= 5; i++) {
                long step = n <= 1 ? 1 : 1 + Math.round((n - 1) * i / 5.0);
                int x = xOf(step - 1, n, plotW);
                g.setColor(Color.DARK_GRAY);
                String label = Long.toString(step);
                g.drawString(
                        label, x - fm.stringWidth(label) / 2, TOP + plotH + fm.getAscent() + 6);
            }
            g.drawRect(LEFT, TOP, plotW, plotH);
            g.drawString("step", LEFT + plotW / 2 - fm.stringWidth("step") / 2, HEIGHT - 12);
            g.drawString("loss", 8, TOP - 10);
            g.setFont(font.deriveFont(Font.BOLD, 14f));
            g.drawString(title, LEFT, TOP - 14);
            g.setClip(LEFT, TOP, plotW + 1, plotH + 1);
            g.setStroke(new BasicStroke(1f));
            g.setColor(new Color(150, 190, 235));
            g.draw(
                    line(
                            losses.stream().mapToDouble(Float::doubleValue).toArray(),
                            lo,
                            hi,
                            plotW,
                            plotH));
            g.setStroke(new BasicStroke(2.2f));
            g.setColor(new Color(20, 70, 160));
            g.draw(line(smoothed, lo, hi, plotW, plotH));
            g.setClip(null);
            g.setFont(font);
            g.setColor(new Color(150, 190, 235));
            g.fillRect(LEFT + plotW - 190, TOP + 10, 14, 4);
            g.setColor(Color.DARK_GRAY);
            g.drawString("loss per step", LEFT + plotW - 170, TOP + 16);
            g.setColor(new Color(20, 70, 160));
            g.fillRect(LEFT + plotW - 190, TOP + 28, 14, 4);
            g.setColor(Color.DARK_GRAY);
            g.drawString("moving average (0.9)", LEFT + plotW - 170, TOP + 34);
        } finally {
            g.dispose();
        }
        return image;
    }

    private static int xOf(long index, int n, int plotW) {
        return LEFT + (n <= 1 ? plotW / 2 : (int) Math.round(plotW * index / (double) (n - 1)));
    }

    private static Path2D line(double[] values, double lo, double hi, int plotW, int plotH) {
        Path2D.Double path = new Path2D.Double();
        boolean started = false;
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                continue;
            }
            double x = xOf(i, values.length, plotW);
            double y = TOP + plotH - plotH * (values[i] - lo) / (hi - lo);
            if (started) {
                path.lineTo(x, y);
            } else {
                path.moveTo(x, y);
                started = true;
            }
        }
        return path;
    }
}
