package io.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.nn.Block;
import io.peft4j.core.PeftModel;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.tree.AdapterWrapper;
import io.peft4j.core.tree.ModuleTree;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.TextTokenizer;
import io.peft4j.testing.TinyModels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * Fuzzes the files the CLI reads besides data sets: the adapter_config.json of every method,
 * training_run.json and tokenizer.json. A mutated file loads, or fails with the documented
 * exception naming the file (IOException/IllegalArgumentException for adapters, a one-line
 * UserError for the CLI's files); never another exception, an OutOfMemoryError (sizes are budgeted
 * before allocation) or a hang; a failed adapter load leaves the model unchanged. 1,000 cases each
 * in CI (junit-platform.properties); {@code -Djqwik.tries.default=10000} for the long profile.
 */
class CliFilesFuzzProperties {

    private static final Duration HANG = Duration.ofSeconds(20);
    private static final List<String> METHODS = List.of("lora", "mos", "shadow", "masa", "lift");

    private static Path root;
    private static Model model;

    /** Per method: its valid adapter_config.json and adapter_model.safetensors bytes. */
    private static final Map<String, byte[][]> VALID = new LinkedHashMap<>();

    private static byte[] validTokenizer;
    private static byte[] validRunInfo;

    private static synchronized void prepare() throws IOException {
        if (model != null) {
            return;
        }
        root = Files.createTempDirectory("peft4j-cli-fuzz");
        Path llama = TinyModels.llama(root.resolve("llama"));
        model = HfCheckpoint.load(llama, Device.cpu());
        for (String name : METHODS) {
            AdapterConfig config =
                    Methods.config(
                            Methods.find(name),
                            2,
                            4,
                            0,
                            List.of("q_proj", "v_proj"),
                            List.of(),
                            "CAUSAL_LM",
                            name.equals("mos")
                                    ? List.of("r=2", "equivalent_rank=2", "private_rank=1")
                                    : List.of(),
                            w -> {});
            Path out = root.resolve(name);
            try (PeftModel peft = PeftModel.wrap(model.getBlock(), config)) {
                peft.save(out);
            }
            VALID.put(
                    name,
                    new byte[][] {
                        Files.readAllBytes(out.resolve("adapter_config.json")),
                        Files.readAllBytes(out.resolve("adapter_model.safetensors"))
                    });
        }
        validTokenizer = Files.readAllBytes(llama.resolve("tokenizer.json"));
        validRunInfo =
                ("{\n  \"task\": \"classify\",\n  \"model\": \"minilm\",\n  \"method\": \"lora\",\n"
                                + "  \"max_length\": 128,\n  \"num_labels\": 2,\n  \"steps\": 120,\n  \"lr\": 5.0E-4\n}\n")
                        .getBytes(StandardCharsets.UTF_8);
    }

    @AfterContainer
    static void cleanUp() throws IOException {
        if (model != null) {
            model.close();
            model = null;
        }
        if (root != null) {
            deleteTree(root);
        }
    }

    /** A mutation: kind, position (fraction of the file), and a value. */
    record Mutation(int kind, double where, int value) {}

    @Provide
    Arbitrary<Mutation> mutations() {
        return Combinators.combine(
                        Arbitraries.integers().between(0, 6),
                        Arbitraries.doubles().between(0, 1),
                        Arbitraries.integers().between(0, 1 << 20))
                .as(Mutation::new);
    }

    private static final Pattern NUMBER =
            Pattern.compile("(\"[a-z_]+\"\\s*:\\s*)(-?[0-9][0-9.eE+-]*)");
    private static final Pattern STRING = Pattern.compile("(\"[a-z_]+\"\\s*:\\s*)(\"[^\"]*\")");
    private static final String[] ODD_NUMBERS = {
        "-1",
        "0",
        "2147483647",
        "2147483648",
        "99999999999",
        "1e308",
        "NaN",
        "-Infinity",
        "1.5",
        "1000000",
        "-2147483648"
    };
    private static final String[] ODD_VALUES = {
        "null", "true", "[]", "{}", "\"x\"", "[1, 2]", "{\"a\": 1}", "\"\""
    };

    /**
     * Mutates JSON text: truncation, a flipped byte, a numeric value made extreme, a value of the
     * wrong type, garbage.
     */
    static byte[] mutate(byte[] valid, Mutation m) {
        String text = new String(valid, StandardCharsets.UTF_8);
        int at = (int) (m.where() * valid.length);
        switch (m.kind()) {
            case 0:
                return java.util.Arrays.copyOf(valid, at);
            case 1:
                {
                    byte[] b = valid.clone();
                    b[Math.min(at, b.length - 1)] ^= (byte) (m.value() | 1);
                    return b;
                }
            case 2:
            case 3:
                { // the n-th number (2) or string (3) value replaced by an extreme number
                    Matcher x = (m.kind() == 2 ? NUMBER : STRING).matcher(text);
                    return replaceNth(
                            text, x, m.value(), ODD_NUMBERS[m.value() % ODD_NUMBERS.length]);
                }
            case 4:
                { // the n-th value replaced by one of the wrong type
                    Matcher x = (m.value() % 2 == 0 ? NUMBER : STRING).matcher(text);
                    return replaceNth(
                            text, x, m.value() / 2, ODD_VALUES[m.value() % ODD_VALUES.length]);
                }
            case 5: // deep nesting at a value
                return text.replaceFirst(":", ":" + "[".repeat(3000 + m.value() % 5000))
                        .getBytes(StandardCharsets.UTF_8);
            default:
                {
                    byte[] b = valid.clone();
                    for (int i = 0; i < 1 + m.value() % 16 && at + i < b.length; i++) {
                        b[at + i] = (byte) (m.value() * 31 + i);
                    }
                    return b;
                }
        }
    }

    private static byte[] replaceNth(String text, Matcher x, int n, String replacement) {
        int count = 0;
        while (x.find()) {
            count++;
        }
        if (count == 0) {
            return text.getBytes(StandardCharsets.UTF_8);
        }
        x.reset();
        int target = n % count;
        for (int i = 0; i <= target; i++) {
            x.find();
        }
        return (text.substring(0, x.start(2)) + replacement + text.substring(x.end(2)))
                .getBytes(StandardCharsets.UTF_8);
    }

    @Property // 1,000 tries (jqwik.tries.default); -Djqwik.tries.default=10000 for the long run
    void adapterConfigsOfEveryMethodLoadOrFailCleanly(
            @ForAll("mutations") Mutation m, @ForAll("methods") String method) {
        assertTimeoutPreemptively(
                HANG, () -> adapterCase(m, method), () -> "hang on " + method + " " + m);
    }

    @Provide
    Arbitrary<String> methods() {
        return Arbitraries.of(METHODS);
    }

    private void adapterCase(Mutation m, String method) throws IOException {
        prepare();
        Path dir = Files.createTempDirectory(root, "case");
        try {
            Files.write(dir.resolve("adapter_config.json"), mutate(VALID.get(method)[0], m));
            Files.write(dir.resolve("adapter_model.safetensors"), VALID.get(method)[1]);
            Block base = model.getBlock();
            synchronized (CliFilesFuzzProperties.class) {
                try (PeftModel loaded = PeftModel.load(base, dir)) {
                    assertTrue(loaded.adapterNames().contains(PeftModel.DEFAULT_ADAPTER));
                } catch (IOException | IllegalArgumentException e) {
                    assertTrue(
                            e.getMessage() != null && e.getMessage().contains(dir.toString()),
                            "the message must name the file: " + e.getMessage());
                } catch (RuntimeException | Error e) {
                    fail(method + " mutation " + m + " escaped as " + e, e);
                }
                assertTrue(
                        ModuleTree.of(base).nodes().stream()
                                .noneMatch(n -> n.block() instanceof AdapterWrapper),
                        "the model must be left without adapters");
            }
        } finally {
            deleteTree(dir);
        }
    }

    @Property
    void trainingRunJsonIsReadOrRefusedByName(@ForAll("mutations") Mutation m) {
        assertTimeoutPreemptively(
                HANG,
                () -> {
                    prepare();
                    Path dir = Files.createTempDirectory(root, "run");
                    try {
                        Files.write(dir.resolve(RunInfo.FILE), mutate(validRunInfo, m));
                        try {
                            var info = RunInfo.read(dir);
                            RunInfo.task(info, Task.CLASSIFY);
                            int labels = RunInfo.intOr(info, "num_labels", 2);
                            int length = RunInfo.intOr(info, "max_length", 128);
                            assertTrue(
                                    labels >= 2 && labels <= Labels.MAX && length >= 2,
                                    info.toString());
                        } catch (UserError e) {
                            assertTrue(
                                    e.getMessage().contains(RunInfo.FILE),
                                    "names the file: " + e.getMessage());
                        } catch (RuntimeException | Error e) {
                            fail("mutation " + m + " escaped as " + e, e);
                        }
                    } finally {
                        deleteTree(dir);
                    }
                },
                () -> "hang on " + m);
    }

    @Property
    void tokenizerJsonLoadsOrIsRefusedByName(@ForAll("mutations") Mutation m) {
        assertTimeoutPreemptively(
                HANG,
                () -> {
                    prepare();
                    Path dir = Files.createTempDirectory(root, "tok");
                    try {
                        Path file = dir.resolve("tokenizer.json");
                        Files.write(file, mutate(validTokenizer, m));
                        try (TextTokenizer t = Models.tokenizer(file, 0)) {
                            t.encode("the cat sat");
                            Models.checkTokenizerFits(file, model.getBlock(), "llama");
                        } catch (UserError e) {
                            assertTrue(
                                    e.getMessage().contains(file.toString()),
                                    "names the file: " + e.getMessage());
                        } catch (RuntimeException | Error e) {
                            fail("mutation " + m + " escaped as " + e, e);
                        }
                    } finally {
                        deleteTree(dir);
                    }
                },
                () -> "hang on " + m);
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
