package io.peft4j.tasks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

class BoundedLinesTest {

    @Test
    void splitsAtEveryTerminatorAndNumbersLines() throws IOException {
        BoundedLines lines = new BoundedLines(new StringReader("a\r\nb\rc\n\nd"), "f.txt");
        List<String> got = new ArrayList<>();
        for (String l; (l = lines.next()) != null; ) {
            got.add(l + "@" + lines.lineNumber());
        }
        assertEquals(List.of("a@1", "b@2", "c@3", "@4", "d@5"), got);
        assertNull(lines.next(), "stays at the end");
    }

    @Test
    void aLineOverTheLimitNamesTheSourceTheLineAndTheLimit() throws IOException {
        BoundedLines lines =
                new BoundedLines(
                        new StringReader("ok\n" + "x".repeat(11) + "\nnever"), "data.tsv", 10);
        assertEquals("ok", lines.next());
        DataFormatException e = assertThrows(DataFormatException.class, lines::next);
        assertTrue(
                e.getMessage().startsWith("data.tsv:2: a line longer than 10 characters"),
                e.getMessage());
        BoundedLines exact = new BoundedLines(new StringReader("x".repeat(10)), "data.tsv", 10);
        assertEquals("x".repeat(10), exact.next(), "a line of exactly the limit is fine");
    }

    @Test
    void readersUseTheBound() {
        DataFormatException e =
                assertThrows(
                        DataFormatException.class,
                        () ->
                                DataReaders.readLabeledTsv(
                                        new StringReader(
                                                "sentence\tlabel\n"
                                                        + "y"
                                                                .repeat(
                                                                        BoundedLines.MAX_LINE_CHARS
                                                                                + 1)
                                                        + "\t1\n"),
                                        "big.tsv"));
        assertTrue(e.getMessage().startsWith("big.tsv:2: a line longer than"), e.getMessage());
    }

    /**
     * The same lines as BufferedReader.readLine, whatever the mix of terminators and buffer edges.
     */
    @Property(tries = 300)
    void agreesWithBufferedReader(@ForAll("texts") String text) throws IOException {
        List<String> expected = new ArrayList<>();
        BufferedReader reference = new BufferedReader(new StringReader(text));
        for (String l; (l = reference.readLine()) != null; ) {
            expected.add(l);
        }
        List<String> got = new ArrayList<>();
        BoundedLines lines = new BoundedLines(new StringReader(text), "t");
        for (String l; (l = lines.next()) != null; ) {
            got.add(l);
        }
        assertEquals(expected, got);
        assertEquals(expected.size(), lines.lineNumber());
    }

    @Provide
    Arbitrary<String> texts() {
        // long enough to cross the 8192-char buffer, with \r\n split across its edge now and then
        return Arbitraries.strings()
                .withChars('a', 'b', '\r', '\n', '\t')
                .ofMinLength(0)
                .ofMaxLength(20000);
    }
}
