package io.peft4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The slope fit on exact power laws, and the tiny sweeps end to end (times are never asserted). */
class ScalingSmokeTest {

    @Test
    void slopeOfAnExactPowerLawIsItsExponent() {
        double[] x = {1, 2, 5, 10, 64};
        double[] square = new double[x.length];
        double[] invRoot = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            square[i] = 3 * x[i] * x[i];
            invRoot[i] = 7 / Math.sqrt(x[i]);
        }
        assertEquals(2.0, Scaling.logLogSlope(x, square), 1e-12);
        assertEquals(-0.5, Scaling.logLogSlope(x, invRoot), 1e-12);
    }

    @Test
    void slopeRefusesWhatHasNoLogOrNoSpread() {
        assertThrows(
                IllegalArgumentException.class,
                () -> Scaling.logLogSlope(new double[] {1, 2}, new double[] {0, 4}));
        assertThrows(
                IllegalArgumentException.class,
                () -> Scaling.logLogSlope(new double[] {2, 2}, new double[] {1, 4}));
        assertThrows(
                IllegalArgumentException.class,
                () -> Scaling.logLogSlope(new double[] {1}, new double[] {1}));
        assertThrows(
                IllegalArgumentException.class,
                () -> Scaling.logLogSlope(new double[] {1, 2}, new double[] {1}));
    }

    @Test
    void badSweepsFailBeforeMeasuring() {
        for (List<String> sweeps :
                List.of(
                        List.of("hidden", "width"),
                        List.of("hidden=16/x"),
                        List.of("seq=0/8"),
                        List.of("seq", "seq=8/16"))) {
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> Scaling.study(sweeps, 1, true),
                            sweeps.toString());
            assertTrue(
                    e.getMessage().contains(sweeps.get(sweeps.size() - 1).replaceAll("=.*", "")),
                    e.getMessage());
        }
    }

    @Test
    void tinySweepsReportEverySlopeAndLoraKeepsLessOptimiserState() throws Exception {
        // hidden with chosen values, the others with their defaults
        Scaling.Study study = Scaling.study(List.of("hidden=16/24", "layers", "seq"), 1, true);
        String all = String.join("\n", study.lines());
        assertEquals(Scaling.AXES, new ArrayList<>(study.sweeps().keySet()), all);
        assertEquals(
                List.of(16, 24),
                study.sweeps().get("hidden").stream().map(r -> r.point().hidden()).toList(),
                all);

        Pattern slope =
                Pattern.compile("slope (LoRA|full) (step time|train memory) +~ (\\w+)\\^(\\S+)");
        List<String> seen = new ArrayList<>();
        for (String line : study.lines()) {
            Matcher m = slope.matcher(line);
            if (m.find()) {
                seen.add(m.group(3) + "/" + m.group(1) + " " + m.group(2));
                assertTrue(Double.isFinite(Double.parseDouble(m.group(4))), line);
            }
        }
        assertEquals(12, seen.size(), all);
        assertEquals(
                12, seen.stream().distinct().count(), "one slope per sweep and measure: " + seen);

        for (var sweep : study.sweeps().entrySet()) {
            List<Scaling.Result> rs = sweep.getValue();
            assertTrue(rs.size() >= 2, sweep.getKey() + ": a slope needs two points");
            for (int i = 0; i < rs.size(); i++) {
                Scaling.Result r = rs.get(i);
                assertTrue(
                        r.fullOptBytes() > r.loraOptBytes() && r.loraOptBytes() > 0, r.toString());
                assertTrue(
                        r.fullTrainable() > r.loraTrainable() && r.loraTrainable() > 0,
                        r.toString());
                assertTrue(
                        r.loraTrainKb() > 0 && r.fullTrainKb() > 0,
                        "training allocates something: " + r);
                if (i > 0) {
                    assertTrue(
                            r.point().get(sweep.getKey())
                                    > rs.get(i - 1).point().get(sweep.getKey()),
                            all);
                }
            }
        }
        // more layers or width add weights; a longer sequence adds none
        for (String grows : List.of("hidden", "layers")) {
            List<Scaling.Result> rs = study.sweeps().get(grows);
            assertTrue(rs.get(rs.size() - 1).fullTrainable() > rs.get(0).fullTrainable(), all);
        }
        List<Scaling.Result> seq = study.sweeps().get("seq");
        assertEquals(seq.get(0).fullOptBytes(), seq.get(seq.size() - 1).fullOptBytes(), all);
    }
}
