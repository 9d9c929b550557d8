package io.peft4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextTokenizerTest {

    @Test
    void bertFixtureTextsGiveTheFixtureIds() {
        JsonObject fixture = Fixtures.read("all-minilm-l6-v2.json");
        try (TextTokenizer tok =
                TextTokenizer.of(TestSupport.requireShared("models/all-minilm-l6-v2"))) {
            List<String> texts = new ArrayList<>();
            List<long[]> expected = new ArrayList<>();
            for (JsonElement c : fixture.getAsJsonArray("cases")) {
                texts.add(c.getAsJsonObject().get("text").getAsString());
                expected.add(Fixtures.longs(c.getAsJsonObject().getAsJsonArray("input_ids")));
            }
            for (int i = 0; i < texts.size(); i++) {
                assertArrayEquals(expected.get(i), tok.encode(texts.get(i)), texts.get(i));
            }
            TextTokenizer.Batch batch = tok.encode(texts);
            assertEquals(9, batch.inputIds()[1].length);
            assertArrayEquals(
                    new long[] {101, 2619, 3248, 2019, 6602, 1012, 102, 0, 0}, batch.inputIds()[1]);
            assertArrayEquals(new long[] {1, 1, 1, 1, 1, 1, 1, 0, 0}, batch.attentionMask()[1]);
            assertArrayEquals(new long[9], batch.tokenTypeIds()[0]);
        }
    }

    @Test
    void llamaFixturePromptGivesTheFixtureIdsAndDecodes() {
        JsonObject fixture = Fixtures.read("stories260K.json");
        long[] expected = Fixtures.longs(fixture.getAsJsonArray("input_ids"));
        try (TextTokenizer tok =
                TextTokenizer.builder(TestSupport.requireShared("models/stories260K"))
                        .paddingSide(TextTokenizer.PaddingSide.LEFT)
                        .build()) {
            assertArrayEquals(expected, tok.encode(fixture.get("prompt").getAsString()));
            assertEquals(
                    fixture.get("greedy_continuation_text").getAsString(),
                    tok.decode(
                                    Fixtures.longs(
                                            fixture.getAsJsonArray("greedy_continuation_ids")),
                                    true)
                            .trim());
            TextTokenizer.Batch b = tok.encode(List.of("Once upon a time", "Once"));
            long[] shortRow = b.inputIds()[1];
            assertEquals(
                    1L,
                    shortRow[shortRow.length - 2],
                    "BOS right before the text, pads on the left");
            assertEquals(0L, b.attentionMask()[1][0]);
            assertEquals(1L, b.attentionMask()[1][shortRow.length - 1]);
        }
    }

    @Test
    void truncationKeepsSpecialTokensAndSpecialTokensCanBeOff() {
        Path dir = TestSupport.requireShared("models/all-minilm-l6-v2");
        try (TextTokenizer tok = TextTokenizer.builder(dir).maxLength(5).build();
                TextTokenizer plain = TextTokenizer.builder(dir).addSpecialTokens(false).build()) {
            assertArrayEquals(
                    new long[] {101, 1037, 2158, 2003, 102},
                    tok.encode("A man is playing a guitar."));
            assertArrayEquals(
                    new long[] {1037, 2158, 2003, 2652, 1037, 2858, 1012},
                    plain.encode("A man is playing a guitar."));
        }
    }

    @Test
    void missingTokenizerIsAClearError(@TempDir Path empty) {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> TextTokenizer.of(empty));
        assertEquals("No tokenizer.json at " + empty.resolve("tokenizer.json"), e.getMessage());
    }
}
