package io.peft4j.examples.cli;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.testing.TinyModels;
import java.awt.image.BufferedImage;
import java.io.BufferedWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The peft4j command line: help, one-line user errors, and tiny end-to-end runs. */
class CliTest {

    @TempDir static Path dir;

    static Path bert;
    static Path llama;
    static Path tsv;
    static Path text;

    record Result(int code, String out, String err) {
        String all() {
            return out + err;
        }
    }

    @BeforeAll
    static void models() throws IOException {
        bert = TinyModels.bert(dir.resolve("bert"));
        llama = TinyModels.llama(dir.resolve("llama"));
        StringBuilder sb = new StringBuilder("sentence\tlabel\n");
        String[] good = {"good", "great", "fine"};
        String[] bad = {"bad", "awful", "dull"};
        for (String thing : new String[] {"the film", "the movie", "a story", "it"}) {
            for (int i = 0; i < 3; i++) {
                sb.append(thing).append(" was ").append(good[i]).append("\t1\n");
                sb.append(thing).append(" was very ").append(bad[i]).append("\t0\n");
            }
        }
        tsv = Files.writeString(dir.resolve("train.tsv"), sb.toString());
        StringBuilder story = new StringBuilder();
        for (int i = 0; i < 20; i++) {
            story.append("the cat sat on the mat . the dog ran\n\n");
        }
        text = Files.writeString(dir.resolve("story.txt"), story.toString());
    }

    static synchronized Result run(String... args) {
        PrintStream oldOut = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try (PrintStream ps = new PrintStream(out, true, StandardCharsets.UTF_8);
                PrintWriter ew = new PrintWriter(err, true, StandardCharsets.UTF_8)) {
            System.setOut(ps);
            CommandLine cl = Peft4j.commandLine();
            cl.setOut(new PrintWriter(new BufferedWriter(new OutputStreamWriter(ps, UTF_8)), true));
            cl.setErr(ew);
            int code = cl.execute(args);
            ps.flush();
            ew.flush();
            return new Result(
                    code,
                    out.toString(StandardCharsets.UTF_8),
                    err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
        }
    }

    private static void assertUserError(Result r, String expectedPart) {
        assertEquals(2, r.code(), r.all());
        String err = r.err().strip();
        assertFalse(err.contains("\n"), "one line expected:\n" + err);
        assertFalse(err.contains("\tat "), err);
        assertTrue(err.contains(expectedPart), "expected '" + expectedPart + "' in: " + err);
    }

    @Test
    void everyCommandHasHelp() {
        for (String cmd : new String[] {"demo", "train", "eval", "generate", "merge", "forward"}) {
            Result r = run(cmd, "--help");
            assertEquals(0, r.code(), cmd);
            assertTrue(r.out().contains("Usage: peft4j " + cmd), r.out());
        }
        Result top = run("--help");
        assertEquals(0, top.code());
        assertTrue(top.out().contains("train") && top.out().contains("forward"), top.out());
        Result train = run("train", "--help");
        for (String option :
                new String[] {
                    "--method",
                    "--model",
                    "--task",
                    "--train",
                    "--dev",
                    "--rank",
                    "--alpha",
                    "--targets",
                    "--epochs",
                    "--steps",
                    "--lr",
                    "--batch-size",
                    "--max-length",
                    "--seed",
                    "--device",
                    "--out",
                    "--resume"
                }) {
            assertTrue(train.out().contains(option), option);
        }
    }

    @Test
    void badArgumentsAreOneLineAndExit2() {
        assertUserError(run(), "no command given");
        assertUserError(run("train"), "Missing required option: '--train=<file>'");
        assertUserError(
                run("train", "--train", tsv.toString(), "--bogus"), "Unknown option: '--bogus'");
        assertUserError(run("train", "--train", tsv.toString(), "--rank", "x"), "--rank");
        assertUserError(
                run(
                        "train",
                        "--train",
                        tsv.toString(),
                        "--method",
                        "ia3",
                        "--model",
                        bert.toString()),
                "unknown method 'ia3'; expected one of lift, lora, masa, mos, shadow");
        // a method's own refusal reaches the user as one line too
        assertUserError(
                run(
                        "train",
                        "--train",
                        tsv.toString(),
                        "--method",
                        "mos",
                        "--model",
                        bert.toString()),
                "r - p = 16 - 1 = 15 public rank vectors per layer");
        assertUserError(
                run("train", "--train", tsv.toString(), "--method", "dora"),
                "unknown method 'dora'");
        assertUserError(
                run(
                        "train",
                        "--train",
                        dir.resolve("nope.tsv").toString(),
                        "--model",
                        bert.toString()),
                "nope.tsv: no such file");
        assertUserError(
                run(
                        "train",
                        "--train",
                        tsv.toString(),
                        "--model",
                        dir.resolve("nothing").toString()),
                "no such file or folder");
        assertUserError(
                run("train", "--train", tsv.toString(), "--device", "tpu"),
                "--device must be cpu or gpu");
        assertUserError(
                run("train", "--train", tsv.toString(), "--task", "summarize"),
                "unknown task 'summarize'");
        assertUserError(
                run(
                        "train",
                        "--train",
                        tsv.toString(),
                        "--model",
                        bert.toString(),
                        "--targets",
                        "nothing_here",
                        "--out",
                        dir.resolve("x").toString()),
                "cannot add a LORA adapter");
        assertUserError(
                run("eval", "--data", tsv.toString(), "--adapter", dir.toString()),
                "no adapter_config.json");
        assertUserError(run("forward", "--text", "a", "--ids", "1"), "mutually exclusive");
        assertUserError(
                run(
                        "train",
                        "--train",
                        text.toString(),
                        "--model",
                        bert.toString(),
                        "--task",
                        "causal-lm"),
                "--task causal-lm needs a decoder");
    }

    @Test
    void classifyTrainSaveLoadEvalMergeForward() throws IOException {
        Path out = dir.resolve("cls-run");
        Result train =
                run(
                        "train",
                        "--model",
                        bert.toString(),
                        "--train",
                        tsv.toString(),
                        "--dev",
                        tsv.toString(),
                        "--steps",
                        "25",
                        "--lr",
                        "1e-2",
                        "--batch-size",
                        "8",
                        "--rank",
                        "4",
                        "--max-length",
                        "16",
                        "--out",
                        out.toString());
        assertEquals(0, train.code(), train.all());
        assertTrue(train.out().contains("trainable params:"), train.out());
        for (String f :
                new String[] {
                    "adapter_config.json",
                    "adapter_model.safetensors",
                    "loss.csv",
                    "loss.png",
                    "training_run.json"
                }) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        List<String> csv = Files.readAllLines(out.resolve("loss.csv"));
        assertEquals("step,loss,smoothed", csv.get(0));
        assertEquals(26, csv.size());
        BufferedImage png = ImageIO.read(out.resolve("loss.png").toFile());
        assertNotNull(png);
        assertEquals(800, png.getWidth());
        JsonObject info =
                JsonParser.parseString(Files.readString(out.resolve("training_run.json")))
                        .getAsJsonObject();
        double before = info.getAsJsonObject("before").get("accuracy").getAsDouble();
        double after = info.getAsJsonObject("after").get("accuracy").getAsDouble();
        assertTrue(after > before && after >= 0.9, before + " -> " + after);
        JsonObject config =
                JsonParser.parseString(Files.readString(out.resolve("adapter_config.json")))
                        .getAsJsonObject();
        assertEquals("LORA", config.get("peft_type").getAsString());
        assertEquals("classifier", config.getAsJsonArray("modules_to_save").get(0).getAsString());

        // load the adapter again: the same accuracy as at the end of training
        Result eval =
                run(
                        "eval",
                        "--model",
                        bert.toString(),
                        "--adapter",
                        out.toString(),
                        "--data",
                        tsv.toString());
        assertEquals(0, eval.code(), eval.all());
        assertTrue(
                eval.out().contains(String.format(Locale.ROOT, "accuracy %.4f", after)),
                eval.out() + " vs " + after);

        // merged checkpoint gives the adapter's logits
        Result withAdapter =
                run(
                        "forward",
                        "--model",
                        bert.toString(),
                        "--adapter",
                        out.toString(),
                        "--text",
                        "the film was good",
                        "--text",
                        "it was very dull");
        assertEquals(0, withAdapter.code(), withAdapter.all());
        Path merged = dir.resolve("merged");
        Result merge =
                run(
                        "merge",
                        "--model",
                        bert.toString(),
                        "--adapter",
                        out.toString(),
                        "--out",
                        merged.toString());
        assertEquals(0, merge.code(), merge.all());
        assertTrue(Files.isRegularFile(merged.resolve("tokenizer.json")));
        Result fromMerged =
                run(
                        "forward",
                        "--model",
                        merged.toString(),
                        "--task",
                        "classify",
                        "--text",
                        "the film was good",
                        "--text",
                        "it was very dull");
        assertEquals(0, fromMerged.code(), fromMerged.all());
        JsonObject a = JsonParser.parseString(withAdapter.out()).getAsJsonObject();
        JsonObject b = JsonParser.parseString(fromMerged.out()).getAsJsonObject();
        assertEquals("logits", a.get("output").getAsString());
        assertEquals("[2,2]", a.get("shape").toString());
        assertClose(a.getAsJsonArray("values"), b.getAsJsonArray("values"), 1e-4);
        Result base =
                run("forward", "--model", bert.toString(), "--task", "base", "--ids", "2,4,6,3");
        assertEquals(0, base.code(), base.all());
        assertEquals(
                "[1,4,16]",
                JsonParser.parseString(base.out()).getAsJsonObject().get("shape").toString());

        // a BERT adapter on a decoder: one line, exit 2
        assertUserError(
                run(
                        "eval",
                        "--model",
                        llama.toString(),
                        "--adapter",
                        out.toString(),
                        "--task",
                        "causal-lm",
                        "--data",
                        text.toString()),
                "does not fit");
    }

    @Test
    void causalLmTrainEvalGenerateAndResume() throws IOException {
        Path out = dir.resolve("lm-run");
        Result train =
                run(
                        "train",
                        "--model",
                        llama.toString(),
                        "--task",
                        "causal-lm",
                        "--train",
                        text.toString(),
                        "--steps",
                        "12",
                        "--lr",
                        "2e-2",
                        "--batch-size",
                        "2",
                        "--max-length",
                        "16",
                        "--save-every",
                        "6",
                        "--out",
                        out.toString());
        assertEquals(0, train.code(), train.all());
        JsonObject info =
                JsonParser.parseString(Files.readString(out.resolve("training_run.json")))
                        .getAsJsonObject();
        double after = info.getAsJsonObject("after").get("nll").getAsDouble();
        assertTrue(
                after < info.getAsJsonObject("before").get("nll").getAsDouble(), info.toString());
        // the tiny decoder ties lm_head to the embeddings: counted once, as Hugging Face does
        long base =
                io.peft4j.models.RandomCheckpoint.builder(
                                io.peft4j.models.LlamaConfig.fromJson(llama.resolve("config.json")))
                        .build()
                        .parameterCount();
        assertEquals(
                base + info.get("trainable_parameters").getAsLong(),
                info.get("all_parameters").getAsLong(),
                info.toString());
        Result eval =
                run(
                        "eval",
                        "--model",
                        llama.toString(),
                        "--adapter",
                        out.toString(),
                        "--data",
                        text.toString());
        assertEquals(0, eval.code(), eval.all());
        assertTrue(eval.out().contains("NLL "), eval.out());
        Result gen =
                run(
                        "generate",
                        "--model",
                        llama.toString(),
                        "--adapter",
                        out.toString(),
                        "--prompt",
                        "the cat",
                        "--max-new-tokens",
                        "5");
        assertEquals(0, gen.code(), gen.all());
        assertTrue(gen.out().startsWith("the cat"), gen.out());
        // resume from step 6: the same loss curve as the uninterrupted run
        Path resumed = dir.resolve("lm-resumed");
        Result again =
                run(
                        "train",
                        "--model",
                        llama.toString(),
                        "--task",
                        "causal-lm",
                        "--train",
                        text.toString(),
                        "--steps",
                        "12",
                        "--lr",
                        "2e-2",
                        "--batch-size",
                        "2",
                        "--max-length",
                        "16",
                        "--resume",
                        out.resolve("checkpoints").resolve("step-6").toString(),
                        "--out",
                        resumed.toString());
        assertEquals(0, again.code(), again.all());
        assertEquals(
                Files.readAllLines(out.resolve("loss.csv")),
                Files.readAllLines(resumed.resolve("loss.csv")));
    }

    private static void assertClose(JsonArray a, JsonArray b, double tol) {
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            if (a.get(i).isJsonArray()) {
                assertClose(a.get(i).getAsJsonArray(), b.get(i).getAsJsonArray(), tol);
            } else {
                assertEquals(a.get(i).getAsDouble(), b.get(i).getAsDouble(), tol);
            }
        }
    }

    @Test
    void everyMethodIsOnTheClassPathAndTakesTheCommonOptions() {
        for (String name : Methods.NAMES.keySet()) {
            io.peft4j.core.spi.PeftMethod method = Methods.find(name);
            io.peft4j.core.spi.AdapterConfig config =
                    Methods.config(
                            method,
                            4,
                            8,
                            0,
                            java.util.List.of("q_proj", "v_proj"),
                            java.util.List.of(),
                            "CAUSAL_LM",
                            java.util.List.of(),
                            w -> {});
            org.junit.jupiter.api.Assertions.assertEquals(
                    Methods.NAMES.get(name), config.peftType(), name);
        }
    }
}
