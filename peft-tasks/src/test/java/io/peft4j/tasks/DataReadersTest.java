package io.peft4j.tasks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataReadersTest {

    @TempDir Path dir;

    private Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text, StandardCharsets.UTF_8);
        return p;
    }

    @Test
    void sst2TsvWithAnyColumnOrder() throws IOException {
        List<LabeledText> a =
                DataReaders.readLabeled(
                        write("a.tsv", "sentence\tlabel\nit 's great \t1\n\nawful .\t0\n"));
        assertEquals(List.of(new LabeledText("it 's great ", 1), new LabeledText("awful .", 0)), a);
        List<LabeledText> b =
                DataReaders.readLabeled(
                        write("b.tsv", "\uFEFFlabel\tid\ttext\n2\tx\tthird class\n"));
        assertEquals(List.of(new LabeledText("third class", 2)), b);
    }

    @Test
    void tsvErrorsNameFileAndLine() throws IOException {
        Path noHeader = write("c.tsv", "great movie\t1\n");
        DataFormatException e =
                assertThrows(DataFormatException.class, () -> DataReaders.readLabeled(noHeader));
        assertTrue(
                e.getMessage().startsWith(noHeader + ":1: the header must name"), e.getMessage());
        Path badLabel = write("d.tsv", "sentence\tlabel\nok\t1\nfine\tpositive\n");
        e = assertThrows(DataFormatException.class, () -> DataReaders.readLabeled(badLabel));
        assertEquals(
                badLabel + ":3: label 'positive' is not a class index (an integer >= 0)",
                e.getMessage());
        Path fields = write("e.tsv", "sentence\tlabel\na\tb\t1\n");
        e = assertThrows(DataFormatException.class, () -> DataReaders.readLabeled(fields));
        assertTrue(
                e.getMessage().contains(":2: 3 tab-separated fields, the header has 2"),
                e.getMessage());
        Path empty = write("f.tsv", "sentence\tlabel\n");
        e = assertThrows(DataFormatException.class, () -> DataReaders.readLabeled(empty));
        assertEquals(empty + ": no examples in the file", e.getMessage());
        e =
                assertThrows(
                        DataFormatException.class,
                        () -> DataReaders.readLabeled(dir.resolve("missing.tsv")));
        assertEquals(dir.resolve("missing.tsv") + ": no such file", e.getMessage());
        Path csv = write("g.csv", "x");
        e = assertThrows(DataFormatException.class, () -> DataReaders.readLabeled(csv));
        assertTrue(e.getMessage().contains("must be .tsv"), e.getMessage());
    }

    @Test
    void jsonlClassification() throws IOException {
        Path p =
                write(
                        "a.jsonl",
                        "{\"text\": \"good\", \"label\": 1}\n\n{\"sentence\": \"bad\", \"label\": \"0\"}\n");
        assertEquals(
                List.of(new LabeledText("good", 1), new LabeledText("bad", 0)),
                DataReaders.readLabeled(p));
        Path broken = write("b.jsonl", "{\"text\": \"good\", \"label\": 1}\n{\"text\": \"bad\"\n");
        DataFormatException e =
                assertThrows(DataFormatException.class, () -> DataReaders.readLabeled(broken));
        assertTrue(e.getMessage().startsWith(broken + ":2: not valid JSON"), e.getMessage());
        Path noLabel = write("c.jsonl", "{\"text\": \"good\"}\n");
        e = assertThrows(DataFormatException.class, () -> DataReaders.readLabeled(noLabel));
        assertEquals(noLabel + ":1: no integer \"label\" field", e.getMessage());
        Path noText = write("d.jsonl", "{\"txt\": \"good\", \"label\": 1}\n");
        e = assertThrows(DataFormatException.class, () -> DataReaders.readLabeled(noText));
        assertEquals(
                noText + ":1: no \"text\" or \"sentence\" field; found keys [txt, label]",
                e.getMessage());
    }

    @Test
    void plainTextSplitsAtBlankLinesAndLongParagraphs() throws IOException {
        Path p = write("a.txt", "First:\nline two\n\n\nSecond para\n");
        assertEquals(
                List.of(TextExample.plain("First:\nline two"), TextExample.plain("Second para")),
                DataReaders.readText(p));
        String line = "x".repeat(3000);
        List<TextExample> docs =
                DataReaders.readText(write("b.txt", line + "\n" + line + "\n" + "y".repeat(9000)));
        assertEquals(
                List.of(3000, 3000, 4000, 4000, 1000),
                docs.stream().map(d -> d.completion().length()).toList());
    }

    @Test
    void instructionRecordsFromJsonlAndJsonArrays() throws IOException {
        Path jsonl =
                write(
                        "a.jsonl",
                        "{\"instruction\": \"Add 2 and 3.\", \"output\": \"5\"}\n{\"text\": \"plain\"}\n");
        List<TextExample> a = DataReaders.readText(jsonl);
        assertEquals("### Instruction:\nAdd 2 and 3.\n\n### Response:\n", a.get(0).prompt());
        assertEquals("5", a.get(0).completion());
        assertTrue(a.get(1).isPlain());
        Path json =
                write(
                        "b.json",
                        "[{\"instruction\": \"Q\", \"input\": \"ctx\", \"output\": \"A\", \"answer\": \"1\"}]");
        assertEquals(List.of(TextExample.instruction("Q\n\nctx", "A")), DataReaders.readText(json));
        Path notArray = write("c.json", "{\"a\": 1}");
        DataFormatException e =
                assertThrows(DataFormatException.class, () -> DataReaders.readText(notArray));
        assertEquals(
                notArray + ": expected a JSON array of records, found an object", e.getMessage());
        Path noOutput = write("d.jsonl", "{\"instruction\": \"Q\"}\n");
        e = assertThrows(DataFormatException.class, () -> DataReaders.readText(noOutput));
        assertEquals(
                noOutput + ":1: no \"output\" field; found keys [instruction]", e.getMessage());
    }

    @Test
    void splitAndSample() {
        List<Integer> xs = List.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
        assertEquals(
                List.of(List.of(1, 2, 3, 4, 5, 6, 7, 8, 9), List.of(10)),
                DataReaders.splitTail(xs, 0.1));
        assertEquals(List.of(List.of(1), List.of(2)), DataReaders.splitTail(List.of(1, 2), 0.9));
        assertThrows(IllegalArgumentException.class, () -> DataReaders.splitTail(xs, 1.0));
        List<Integer> s = DataReaders.sample(xs, 4, 7);
        assertEquals(4, s.size());
        assertEquals(s, DataReaders.sample(xs, 4, 7));
        assertEquals(10, DataReaders.sample(xs, 100, 7).size());
    }
}
