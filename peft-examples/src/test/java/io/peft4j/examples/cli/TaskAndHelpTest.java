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
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The task follows the model (no --task needed), --json output, and whole help texts with defaults.
 */
class TaskAndHelpTest {

    @TempDir static Path dir;

    static Path bert;
    static Path llama;
    static Path text;

    @BeforeAll
    static void models() throws IOException {
        bert = TinyModels.bert(dir.resolve("bert"));
        llama = TinyModels.llama(dir.resolve("llama"));
        StringBuilder story = new StringBuilder();
        for (int i = 0; i < 12; i++) {
            story.append("the cat sat on the mat . the dog ran\n\n");
        }
        text = Files.writeString(dir.resolve("story.txt"), story.toString());
    }

    private static JsonObject json(CliTest.Result r) {
        assertEquals(0, r.code(), r.all());
        assertTrue(r.out().startsWith("{"), "stdout must be JSON from its first byte: " + r.out());
        return JsonParser.parseString(r.out()).getAsJsonObject();
    }

    @Test
    void aDecoderIsACausalLmInEveryCommandWithoutTask() throws IOException {
        Path out = dir.resolve("lm");
        JsonObject train =
                json(
                        CliTest.run(
                                "train",
                                "--model",
                                llama.toString(),
                                "--train",
                                text.toString(),
                                "--steps",
                                "2",
                                "--batch-size",
                                "2",
                                "--max-length",
                                "16",
                                "--out",
                                out.toString(),
                                "--json"));
        assertEquals("causal-lm", train.get("task").getAsString());
        assertEquals(out.toAbsolutePath().normalize().toString(), train.get("out").getAsString());
        assertTrue(train.getAsJsonObject("after").has("nll"), train.toString());

        JsonObject eval =
                json(
                        CliTest.run(
                                "eval",
                                "--model",
                                llama.toString(),
                                "--data",
                                text.toString(),
                                "--json"));
        assertEquals("causal-lm", eval.get("task").getAsString());
        assertTrue(
                eval.get("nll").getAsDouble() > 0 && eval.get("tokens").getAsLong() > 0,
                eval.toString());

        JsonObject forward =
                json(CliTest.run("forward", "--model", llama.toString(), "--ids", "2,5,6"));
        assertEquals("logits", forward.get("output").getAsString());
        assertEquals(
                TinyModels.WORDS.size() + 4, forward.getAsJsonArray("shape").get(2).getAsInt());

        JsonObject merged =
                json(
                        CliTest.run(
                                "merge",
                                "--model",
                                llama.toString(),
                                "--adapter",
                                out.toString(),
                                "--out",
                                dir.resolve("lm-merged").toString(),
                                "--json"));
        assertEquals("causal-lm", merged.get("task").getAsString());
        assertEquals("LLaMA decoder", merged.get("merged").getAsString());

        JsonObject gen =
                json(
                        CliTest.run(
                                "generate",
                                "--model",
                                llama.toString(),
                                "--prompt",
                                "the cat",
                                "--max-new-tokens",
                                "3",
                                "--json"));
        JsonObject first = gen.getAsJsonArray("outputs").get(0).getAsJsonObject();
        assertTrue(first.get("text").getAsString().startsWith("the cat"), gen.toString());
        assertTrue(first.getAsJsonArray("generated_ids").size() >= 1, gen.toString());
    }

    @Test
    void anEncoderIsAClassifierAndTaskOverrides() throws IOException {
        Path tsv =
                Files.writeString(
                        dir.resolve("cls.tsv"),
                        "sentence\tlabel\nthe film was good\t1\nthe film was bad\t0\nit was great\t1\nit was dull\t0\n");
        JsonObject eval =
                json(
                        CliTest.run(
                                "eval",
                                "--model",
                                bert.toString(),
                                "--data",
                                tsv.toString(),
                                "--json"));
        assertEquals("classify", eval.get("task").getAsString());
        assertEquals(4, eval.get("examples").getAsInt());
        // a plain encoder runs bare in forward; --task overrides the model
        JsonObject bare =
                json(CliTest.run("forward", "--model", bert.toString(), "--ids", "2,4,3"));
        assertEquals("last_hidden_state", bare.get("output").getAsString());
        JsonObject head =
                json(
                        CliTest.run(
                                "forward",
                                "--model",
                                bert.toString(),
                                "--task",
                                "classify",
                                "--ids",
                                "2,4,3"));
        assertEquals("logits", head.get("output").getAsString());
        // a checkpoint whose config names BertForSequenceClassification is a classifier without
        // --task
        Path classifier = dir.resolve("bert-cls");
        Files.createDirectories(classifier);
        for (String f : new String[] {"model.safetensors", "tokenizer.json"}) {
            Files.copy(bert.resolve(f), classifier.resolve(f));
        }
        String config = Files.readString(bert.resolve("config.json"));
        assertTrue(config.contains("\"model_type\""), config);
        JsonObject c = JsonParser.parseString(config).getAsJsonObject();
        com.google.gson.JsonArray archs = new com.google.gson.JsonArray();
        archs.add("BertForSequenceClassification");
        c.add("architectures", archs);
        Files.writeString(classifier.resolve("config.json"), c.toString());
        assertEquals(TaskChoice.ModelKind.CLASSIFIER, TaskChoice.kindOf(classifier.toString()));
        assertEquals(Task.CLASSIFY, TaskChoice.choose(null, null, classifier.toString(), true));
        assertEquals(Task.BASE, TaskChoice.choose(null, null, bert.toString(), true));
        assertEquals(Task.CLASSIFY, TaskChoice.choose(null, null, bert.toString(), false));
        assertEquals(Task.CAUSAL_LM, TaskChoice.choose(null, null, llama.toString(), true));
        assertEquals(Task.BASE, TaskChoice.choose("base", null, llama.toString(), true));
        // generate refuses an encoder in one line
        CliTest.Result gen = CliTest.run("generate", "--model", bert.toString(), "--prompt", "the");
        assertEquals(2, gen.code(), gen.all());
        assertTrue(gen.err().contains("generate needs a decoder"), gen.err());
    }

    @Test
    void commandSummariesAreWholeSentencesAndEveryHelpListsItsDefaults() {
        CommandLine top = Peft4j.commandLine();
        String topHelp = CliTest.run("--help").out().replaceAll("\\s+", " ");
        for (CommandLine sub : top.getSubcommands().values()) {
            if (sub.getCommand() instanceof CommandLine.HelpCommand) {
                continue;
            }
            String summary = sub.getCommandSpec().usageMessage().description()[0];
            assertTrue(
                    summary.endsWith("."),
                    "summary of " + sub.getCommandName() + " is cut: " + summary);
            assertTrue(
                    topHelp.contains(summary),
                    "'peft4j --help' lacks the whole summary: " + summary);
            String help = CliTest.run(sub.getCommandName(), "--help").out().replaceAll("\\s+", " ");
            List<OptionSpec> options = sub.getCommandSpec().options();
            for (OptionSpec o : options) {
                if (o.defaultValue() != null && !o.usageHelp() && !o.versionHelp()) {
                    assertTrue(
                            help.contains("Default: " + o.defaultValue()),
                            sub.getCommandName()
                                    + " --help does not list "
                                    + o.longestName()
                                    + "'s default "
                                    + o.defaultValue());
                }
            }
            assertFalse(help.contains("${DEFAULT-VALUE}"), help);
        }
    }
}
