package io.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.io.SafetensorsFile;
import io.peft4j.core.io.SafetensorsWriter;
import io.peft4j.testing.TinyModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * User errors found by an adversarial run: each is one line and exit 2, names the file, line, key
 * or flag as the user wrote it, and is reported before anything large is allocated or any training
 * is done.
 */
class CliErrorsTest {

    @TempDir static Path dir;

    static Path bert;
    static Path llama;
    static Path tsv;
    static Path text;

    /** A trained tiny BERT adapter (2 classes), copied and broken by the tests. */
    static Path adapter;

    /** A tiny LLaMA run with a checkpoint at step 2. */
    static Path lmRun;

    @BeforeAll
    static void setUp() throws IOException {
        bert = TinyModels.bert(dir.resolve("bert"));
        llama = TinyModels.llama(dir.resolve("llama"));
        StringBuilder sb = new StringBuilder("sentence\tlabel\n");
        for (int i = 0; i < 8; i++) {
            sb.append("the film was good\t1\nthe movie was very bad\t0\n");
        }
        tsv = Files.writeString(dir.resolve("train.tsv"), sb.toString());
        StringBuilder story = new StringBuilder();
        for (int i = 0; i < 12; i++) {
            story.append("the cat sat on the mat . the dog ran\n\n");
        }
        text = Files.writeString(dir.resolve("story.txt"), story.toString());
        adapter = dir.resolve("adapter");
        CliTest.Result r =
                CliTest.run(
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
                        "--rank",
                        "4",
                        "--max-length",
                        "16",
                        "--out",
                        adapter.toString());
        assertEquals(0, r.code(), r.all());
        lmRun = dir.resolve("lm");
        r =
                CliTest.run(
                        "train",
                        "--model",
                        llama.toString(),
                        "--task",
                        "causal-lm",
                        "--train",
                        text.toString(),
                        "--steps",
                        "4",
                        "--batch-size",
                        "2",
                        "--max-length",
                        "16",
                        "--save-every",
                        "2",
                        "--out",
                        lmRun.toString());
        assertEquals(0, r.code(), r.all());
    }

    private static void assertUserError(CliTest.Result r, String... parts) {
        assertEquals(2, r.code(), r.all());
        String err = r.err().strip();
        assertFalse(err.contains("\n"), "one line expected:\n" + err);
        assertFalse(err.contains("\tat "), err);
        for (String p : parts) {
            assertTrue(err.contains(p), "expected '" + p + "' in: " + err);
        }
    }

    private static Path copyAdapter(String name) throws IOException {
        Path copy = dir.resolve(name);
        Files.createDirectories(copy);
        try (Stream<Path> s = Files.list(adapter)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                Files.copy(p, copy.resolve(p.getFileName().toString()));
            }
        }
        return copy;
    }

    private static void editJson(Path file, Consumer<JsonObject> edit) throws IOException {
        JsonObject j = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        edit.accept(j);
        Files.writeString(file, j.toString());
    }

    private static void editTensor(
            Path adapterDir,
            String suffix,
            java.util.function.BiFunction<NDManager, NDArray, NDArray> edit)
            throws IOException {
        Path file = adapterDir.resolve("adapter_model.safetensors");
        try (NDManager manager = NDManager.newBaseManager()) {
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            try (SafetensorsFile st = SafetensorsFile.open(file)) {
                for (String n : st.names()) {
                    tensors.put(n, st.load(n, manager));
                }
            }
            tensors.replaceAll((k, v) -> k.endsWith(suffix) ? edit.apply(manager, v) : v);
            SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
        }
    }

    private static CliTest.Result eval(Path adapterDir) {
        return CliTest.run(
                "eval",
                "--model",
                bert.toString(),
                "--adapter",
                adapterDir.toString(),
                "--data",
                tsv.toString());
    }

    @Test
    void outIsCheckedBeforeTraining() throws IOException {
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        String[] common = {
            "train",
            "--model",
            bert.toString(),
            "--train",
            tsv.toString(),
            "--steps",
            "1",
            "--batch-size",
            "4"
        };
        assertUserError(
                CliTest.run(concat(common, "--out", file.toString())),
                "--out " + file,
                "an existing file");
        assertUserError(CliTest.run(concat(common, "--out", "/")), "--out /", "root folder");
        assertUserError(
                CliTest.run(concat(common, "--out", "/etc")), "--out /etc", "system folder");
        assertUserError(
                CliTest.run(concat(common, "--out", file.resolve("sub").toString())),
                "is a file, not a folder");
    }

    @Test
    void adapterConfigValuesAreNamed() throws IOException {
        Path a = copyAdapter("rank-pattern");
        editJson(
                a.resolve("adapter_config.json"),
                j -> {
                    JsonObject p = new JsonObject();
                    p.addProperty("query", -1);
                    j.add("rank_pattern", p);
                });
        assertUserError(eval(a), "rank_pattern", "must be > 0, got -1");
        Path b = copyAdapter("alpha-pattern");
        Files.writeString(
                b.resolve("adapter_config.json"),
                Files.readString(b.resolve("adapter_config.json"))
                        .replace("\"alpha_pattern\": {}", "\"alpha_pattern\": {\"query\": NaN}"));
        assertUserError(eval(b), "alpha_pattern.query", "must be a number");
        Path d = copyAdapter("alpha-inf");
        Files.writeString(
                d.resolve("adapter_config.json"),
                Files.readString(d.resolve("adapter_config.json"))
                        .replace("\"alpha_pattern\": {}", "\"alpha_pattern\": {\"query\": 1e999}"));
        assertUserError(eval(d), "alpha_pattern.query", "finite");
        Path c = copyAdapter("alpha-type");
        editJson(c.resolve("adapter_config.json"), j -> j.addProperty("lora_alpha", "sixteen"));
        assertUserError(eval(c), "adapter_config.json", "\"lora_alpha\" must be a number");
    }

    @Test
    void brokenAdapterTensorsAreNamed() throws IOException {
        Path a = copyAdapter("nan");
        editTensor(
                a,
                "lora_B.weight",
                (m, t) -> {
                    float[] v = t.toFloatArray();
                    v[0] = Float.NaN;
                    return m.create(v, t.getShape());
                });
        assertUserError(eval(a), "lora_B.weight holds NaN or Inf");
        Path b = copyAdapter("int-a");
        editTensor(b, "lora_A.weight", (m, t) -> m.zeros(t.getShape(), DataType.INT32));
        assertUserError(eval(b), "lora_A.weight has type I32, expected a float type");
    }

    @Test
    void mergeRefusingNonFiniteWeightsIsOneLine() throws IOException {
        Path a = copyAdapter("huge");
        editTensor(a, "lora_A.weight", (m, t) -> m.full(t.getShape(), 1e30f));
        editTensor(a, "lora_B.weight", (m, t) -> m.full(t.getShape(), 1e30f));
        assertUserError(
                CliTest.run(
                        "merge",
                        "--model",
                        bert.toString(),
                        "--adapter",
                        a.toString(),
                        "--out",
                        dir.resolve("merged-huge").toString()),
                "cannot merge");
    }

    @Test
    void trainingRunJsonValuesAreNamedAsTheFileSpellsThem() throws IOException {
        Path a = copyAdapter("labels-huge");
        editJson(a.resolve("training_run.json"), j -> j.addProperty("num_labels", 200_000_000));
        assertUserError(
                eval(a), "training_run.json", "\"num_labels\" must be an integer in [2, 100000]");
        Path b = copyAdapter("labels-type");
        editJson(b.resolve("training_run.json"), j -> j.addProperty("max_length", "long"));
        assertUserError(eval(b), "training_run.json", "\"max_length\"");
    }

    @Test
    void labelCountsAreBounded() throws IOException {
        assertUserError(
                CliTest.run(
                        "train",
                        "--model",
                        bert.toString(),
                        "--train",
                        tsv.toString(),
                        "--num-labels",
                        "200000000",
                        "--out",
                        dir.resolve("nl").toString()),
                "--num-labels must be in [2, 100000]");
        Path stray =
                Files.writeString(
                        dir.resolve("stray.tsv"),
                        Files.readString(tsv) + "the film was odd\t1000000\n");
        assertUserError(
                CliTest.run(
                        "train",
                        "--model",
                        bert.toString(),
                        "--train",
                        stray.toString(),
                        "--out",
                        dir.resolve("stray-out").toString()),
                "stray.tsv:18: label 1000000 is far outside the other labels");
        Path three =
                Files.writeString(
                        dir.resolve("three.tsv"), Files.readString(tsv) + "the film was odd\t2\n");
        assertUserError(
                CliTest.run(
                        "train",
                        "--model",
                        bert.toString(),
                        "--train",
                        three.toString(),
                        "--num-labels",
                        "2",
                        "--out",
                        dir.resolve("three-out").toString()),
                "three.tsv:18: label 2 is not below --num-labels 2");
    }

    @Test
    void tokenizerProblemsNameTheFile() throws IOException {
        Path broken = TinyModels.llama(dir.resolve("llama-broken-tok"));
        Files.writeString(broken.resolve("tokenizer.json"), "{\"model\": ");
        assertUserError(
                CliTest.run(
                        "eval",
                        "--model",
                        broken.toString(),
                        "--task",
                        "causal-lm",
                        "--data",
                        text.toString()),
                broken.resolve("tokenizer.json").toString(),
                "not valid JSON");
        Path big = TinyModels.llama(dir.resolve("llama-big-tok"));
        editJson(
                big.resolve("tokenizer.json"),
                j -> {
                    JsonObject t = new JsonObject();
                    t.addProperty("id", 5000);
                    t.addProperty("content", "<extra>");
                    t.addProperty("special", true);
                    t.addProperty("single_word", false);
                    t.addProperty("lstrip", false);
                    t.addProperty("rstrip", false);
                    t.addProperty("normalized", false);
                    com.google.gson.JsonArray added =
                            j.has("added_tokens") && j.get("added_tokens").isJsonArray()
                                    ? j.getAsJsonArray("added_tokens")
                                    : new com.google.gson.JsonArray();
                    added.add(t);
                    j.add("added_tokens", added);
                });
        assertUserError(
                CliTest.run(
                        "eval",
                        "--model",
                        big.toString(),
                        "--task",
                        "causal-lm",
                        "--data",
                        text.toString()),
                big.resolve("tokenizer.json").toString(),
                "token ids up to 5000",
                "embedding rows");
    }

    @Test
    void aFifoIsRefusedInsteadOfBlocking() throws Exception {
        Path fifo = dir.resolve("fifo.tsv");
        Process p;
        try {
            p = new ProcessBuilder("mkfifo", fifo.toString()).start();
        } catch (IOException e) {
            assumeTrue(false, "no mkfifo here");
            return;
        }
        assumeTrue(p.waitFor() == 0, "mkfifo failed");
        assertUserError(
                CliTest.run(
                        "train",
                        "--model",
                        bert.toString(),
                        "--train",
                        fifo.toString(),
                        "--out",
                        dir.resolve("fifo-out").toString()),
                "--train " + fifo,
                "not a regular file");
        assertUserError(
                CliTest.run("eval", "--model", bert.toString(), "--data", fifo.toString()),
                "not a regular file");
    }

    @Test
    void resumeRefusesChangedSettingsUnlessOverridden() {
        String step = lmRun.resolve("checkpoints").resolve("step-2").toString();
        String[] common = {
            "train",
            "--model",
            llama.toString(),
            "--task",
            "causal-lm",
            "--train",
            text.toString(),
            "--batch-size",
            "2",
            "--max-length",
            "16",
            "--resume",
            step
        };
        assertUserError(
                CliTest.run(
                        concat(
                                common,
                                "--steps",
                                "4",
                                "--lr",
                                "1e-3",
                                "--out",
                                dir.resolve("r1").toString())),
                "learning rate",
                "--override");
        assertUserError(
                CliTest.run(concat(common, "--steps", "3", "--out", dir.resolve("r2").toString())),
                "total steps");
        CliTest.Result ok =
                CliTest.run(
                        concat(
                                common,
                                "--steps",
                                "4",
                                "--lr",
                                "1e-3",
                                "--override",
                                "--out",
                                dir.resolve("r3").toString()));
        assertEquals(0, ok.code(), ok.all());
    }

    @Test
    void sizesFromArgumentsAreBoundedBeforeAllocation() {
        assertUserError(
                CliTest.run(
                        "train",
                        "--model",
                        llama.toString(),
                        "--task",
                        "causal-lm",
                        "--train",
                        text.toString(),
                        "--batch-size",
                        "2",
                        "--steps",
                        "1",
                        "--max-length",
                        "16",
                        "--method",
                        "shadow",
                        "--set",
                        "num_shadow_layers=1000000",
                        "--out",
                        dir.resolve("sh").toString()),
                "num_shadow_layers=1000000",
                "budget");
        assertUserError(
                CliTest.run(
                        "train",
                        "--model",
                        llama.toString(),
                        "--task",
                        "causal-lm",
                        "--train",
                        text.toString(),
                        "--batch-size",
                        "2",
                        "--steps",
                        "1",
                        "--max-length",
                        "16",
                        "--method",
                        "shadow",
                        "--set",
                        "shadow_intermediate_size=2147483647",
                        "--out",
                        dir.resolve("sh2").toString()),
                "shadow_intermediate_size=2147483647");
        assertUserError(
                CliTest.run(
                        "train",
                        "--model",
                        llama.toString(),
                        "--task",
                        "causal-lm",
                        "--train",
                        text.toString(),
                        "--batch-size",
                        "2",
                        "--steps",
                        "1",
                        "--max-length",
                        "16",
                        "--method",
                        "mos",
                        "--rank",
                        "100000",
                        "--out",
                        dir.resolve("mos").toString()),
                "MOS adapter",
                "200000");
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
