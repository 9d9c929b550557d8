package io.peft4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The PyTorch-Python reference starts and its smallest case completes: a tiny BERT, 2 rounds. Where
 * no python3 can import torch (CI) it must say it skipped and why; the figure itself is measured by
 * hand (peft-bench/README.md), never asserted.
 */
class PythonReferenceSmokeTest {

    @Test
    void tinyRunReportsAFiniteRatioOrSaysWhyItSkipped() throws Exception {
        List<String> lines = PythonReference.run(2, true, PythonReference.defaultCandidates());
        String all = String.join("\n", lines);
        String ratioLine =
                lines.stream()
                        .filter(l -> l.contains(PythonReference.RATIO_LABEL))
                        .findFirst()
                        .orElse(null);
        if (ratioLine == null) {
            assertTrue(
                    all.contains(
                            "PyTorch-Python reference: skipped, no python3 with torch found (tried "),
                    all);
            for (String candidate : PythonReference.defaultCandidates()) {
                assertTrue(
                        all.contains(candidate + ": "),
                        "the skipped line names why " + candidate + " failed:\n" + all);
            }
            return;
        }
        String after =
                ratioLine.substring(
                        ratioLine.indexOf(PythonReference.RATIO_LABEL)
                                + PythonReference.RATIO_LABEL.length());
        double ratio = Double.parseDouble(after.substring(0, after.indexOf(' ')));
        assertTrue(Double.isFinite(ratio) && ratio > 0, "ratio " + ratio + " in:\n" + all);
        // LoRA r=8 on query and value: 2 targets x (A 8 x hidden + B hidden x 8) per layer
        io.peft4j.models.BertConfig c = new MiniLmLoraFigures(true, 1).config();
        long expected = (long) c.numHiddenLayers() * 2 * (2 * 8 * ((long) c.hiddenSize()));
        assertTrue(
                all.contains(
                        String.format(
                                java.util.Locale.ROOT, "%,d trainable on both sides", expected)),
                "expected " + expected + " trainable parameters on both sides:\n" + all);
        assertFalse(all.contains("skipped"), all);
        // the peer's BLAS kernel is named, and the variables that pin it were unset for it
        assertTrue(
                all.matches(
                        "(?s).*OpenBLAS kernel \\S+, config \\S+; OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset for it.*"),
                all);
    }

    @Test
    void lookupSkipsInterpretersThatCannotImportTorch() {
        String bogus = "/nonexistent/peft4j-bogus/python3";
        // java exists but is no Python: it exits non-zero on "-c import torch"
        String notPython = Bench.javaBinary().toString();
        PythonReference.Lookup lookup = PythonReference.find(List.of(bogus, notPython));
        assertNull(lookup.python(), lookup.toString());
        assertEquals(2, lookup.tried().size(), lookup.toString());
        assertTrue(lookup.tried().get(0).startsWith(bogus + ": cannot run it"), lookup.toString());
        assertTrue(
                lookup.tried().get(1).startsWith(notPython + ": no torch (exit "),
                lookup.toString());
        String line = lookup.skippedLine();
        assertTrue(
                line.startsWith("PyTorch-Python reference: skipped, no python3 with torch found")
                        && line.contains(bogus),
                line);
    }

    @Test
    void aBogusInterpreterSkipsTheWholeComparison() throws Exception {
        String bogus = "/nonexistent/peft4j-bogus/python3";
        List<String> lines =
                PythonReference.compare(new MiniLmLoraFigures(true, 1), 1, List.of(bogus));
        assertEquals(1, lines.size(), lines.toString());
        assertTrue(lines.get(0).contains("skipped") && lines.get(0).contains(bogus), lines.get(0));
    }
}
