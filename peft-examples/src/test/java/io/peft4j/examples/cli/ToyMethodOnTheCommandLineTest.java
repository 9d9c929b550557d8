package io.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.testing.TinyModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A method registered only by its own files (the test-scope toy, {@code io.peft4j.testing.toy} in
 * peft-test-fixtures) is on the command line: listed in the help, trained by {@code peft4j train
 * --method toy} with its keys settable and checked by {@code --set}.
 */
class ToyMethodOnTheCommandLineTest {

    @TempDir static Path dir;

    static Path bert;
    static Path tsv;

    @BeforeAll
    static void data() throws IOException {
        bert = TinyModels.bert(dir.resolve("bert"));
        StringBuilder sb = new StringBuilder("sentence\tlabel\n");
        for (String thing : new String[] {"the film", "the movie", "a story", "it"}) {
            sb.append(thing).append(" was good\t1\n");
            sb.append(thing).append(" was very bad\t0\n");
        }
        tsv = Files.writeString(dir.resolve("train.tsv"), sb.toString());
    }

    private static CliTest.Result train(String method, String out, String... extra) {
        List<String> args =
                new ArrayList<>(
                        List.of(
                                "train",
                                "--model",
                                bert.toString(),
                                "--train",
                                tsv.toString(),
                                "--dev",
                                tsv.toString(),
                                "--steps",
                                "2",
                                "--batch-size",
                                "4",
                                "--max-length",
                                "16",
                                "--method",
                                method,
                                "--out",
                                dir.resolve(out).toString()));
        args.addAll(List.of(extra));
        return CliTest.run(args.toArray(new String[0]));
    }

    @Test
    void theToyIsListedAndTrainsWithItsOwnKey() throws IOException {
        assertEquals("TOY", Methods.NAMES.get("toy"), Methods.NAMES.toString());
        CliTest.Result help = CliTest.run("train", "--help");
        assertTrue(help.out().contains("toy"), help.out());
        for (String name : List.of("lift", "lora", "masa", "mos", "shadow")) {
            assertTrue(help.out().contains(name), name + " in " + help.out());
        }

        CliTest.Result r = train("toy", "toy-run", "--set", "init_gain=0.25");
        assertEquals(0, r.code(), r.all());
        Path out = dir.resolve("toy-run");
        JsonObject config =
                JsonParser.parseString(Files.readString(out.resolve("adapter_config.json")))
                        .getAsJsonObject();
        assertEquals("TOY", config.get("peft_type").getAsString());
        assertEquals(0.25, config.get("init_gain").getAsDouble(), 1e-9, "typed: a number");
        JsonObject info =
                JsonParser.parseString(Files.readString(out.resolve("training_run.json")))
                        .getAsJsonObject();
        // the query/value defaults of classify: one gain per input feature of each (hidden 32)
        assertTrue(info.get("trainable_parameters").getAsLong() > 0, info.toString());
        // the method's default optimiser (AdamW) ran: two moments per trained value
        assertTrue(info.get("optimizer_state_bytes").getAsLong() > 0, info.toString());
    }

    @Test
    void setRefusesAKeyTheToyDoesNotReadAndAValueOfTheWrongType() {
        CliTest.Result unknown = train("toy", "toy-unknown", "--set", "gain=1");
        assertEquals(2, unknown.code(), unknown.all());
        String err = unknown.err().strip();
        assertFalse(err.contains("\n"), err);
        assertTrue(
                err.contains("unknown Toy config key \"gain\"")
                        && err.contains("accepted keys:")
                        && err.contains("init_gain")
                        && err.contains("target_modules"),
                err);

        CliTest.Result typed = train("toy", "toy-typed", "--set", "init_gain=large");
        assertEquals(2, typed.code(), typed.all());
        assertTrue(typed.err().contains("init_gain"), typed.err());
        assertFalse(typed.err().strip().contains("\n"), typed.err());
    }

    @Test
    void setStillRefusesUnknownKeysOfTheBuiltInMethods() {
        CliTest.Result r = train("lora", "lora-unknown", "--set", "lora_rank=4");
        assertEquals(2, r.code(), r.all());
        assertTrue(
                r.err().contains("unknown LoRA config key \"lora_rank\"")
                        && r.err().contains("lora_alpha"),
                r.err());
    }
}
