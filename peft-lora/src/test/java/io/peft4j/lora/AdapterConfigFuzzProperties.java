package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.tree.AdapterWrapper;
import io.peft4j.core.tree.ModuleTree;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Fuzzes adapter_config.json: mutations of a valid file either load or fail with an IOException or
 * IllegalArgumentException naming the file, never another exception, and a failed load leaves the
 * model without adapters. 1,000 cases in CI (junit-platform.properties); {@code
 * -Djqwik.tries.default=10000} for the long profile.
 */
class AdapterConfigFuzzProperties {

    private static byte[] validConfig;
    private static byte[] validWeights;

    private static synchronized void prepare() throws IOException {
        if (validConfig != null) {
            return;
        }
        Path dir = Files.createTempDirectory("peft4j-fuzz-valid");
        try (NDManager manager = NDManager.newBaseManager();
                PeftModel peft =
                        PeftModel.wrap(
                                TestModels.transformer(manager, 1),
                                LoraConfig.builder()
                                        .rank(2)
                                        .alpha(4)
                                        .targets("q_proj", "v_proj")
                                        .build())) {
            peft.save(dir);
        }
        validConfig = Files.readAllBytes(dir.resolve("adapter_config.json"));
        validWeights = Files.readAllBytes(dir.resolve("adapter_model.safetensors"));
        deleteTree(dir);
    }

    /** A mutation: kind, position (fraction of the file), and a value. */
    record Mutation(int kind, double where, int value) {}

    @Provide
    Arbitrary<Mutation> mutations() {
        return Combinators.combine(
                        Arbitraries.integers().between(0, 7),
                        Arbitraries.doubles().between(0, 1),
                        Arbitraries.integers().between(0, 255))
                .as(Mutation::new);
    }

    static byte[] mutate(byte[] valid, Mutation m) {
        String text = new String(valid, StandardCharsets.UTF_8);
        int at = (int) (m.where() * valid.length);
        switch (m.kind()) {
            case 0: // truncate
                return java.util.Arrays.copyOf(valid, at);
            case 1:
                { // flip one byte
                    byte[] b = valid.clone();
                    b[Math.min(at, b.length - 1)] ^= (byte) (m.value() | 1);
                    return b;
                }
            case 2: // deep nesting
                return ("{\"peft_type\":\"LORA\",\"r\":"
                                + "[".repeat(5000 + m.value())
                                + "]".repeat(5000 + m.value())
                                + "}")
                        .getBytes(StandardCharsets.UTF_8);
            case 3: // huge or negative rank
                return text.replace(
                                "\"r\": 2",
                                "\"r\": " + (m.value() % 2 == 0 ? "99999999999" : "-" + m.value()))
                        .getBytes(StandardCharsets.UTF_8);
            case 4: // wrong types
                return text.replace(
                                "\"lora_alpha\": 4",
                                "\"lora_alpha\": " + (m.value() % 2 == 0 ? "\"four\"" : "[4]"))
                        .replace(
                                "\"target_modules\": [",
                                m.value() % 3 == 0
                                        ? "\"target_modules\": {\"a\":["
                                        : "\"target_modules\": [")
                        .getBytes(StandardCharsets.UTF_8);
            case 5: // targets that do not exist, or a regex that does not compile
                return text.replace("\"q_proj\"", m.value() % 2 == 0 ? "\"nope\"" : "\"(q\"")
                        .replace("\"v_proj\"", "\"nope2\"")
                        .getBytes(StandardCharsets.UTF_8);
            case 6: // rank that disagrees with the tensors
                return text.replace("\"r\": 2", "\"r\": " + (3 + m.value() % 5))
                        .getBytes(StandardCharsets.UTF_8);
            default: // random garbage spliced in
                byte[] b = valid.clone();
                for (int i = 0; i < 1 + m.value() % 16 && at + i < b.length; i++) {
                    b[at + i] = (byte) (m.value() * 31 + i);
                }
                return b;
        }
    }

    /**
     * A case that neither loads nor fails within this is a hang: a bug of its own, reported with
     * the case.
     */
    private static final Duration HANG = Duration.ofSeconds(20);

    @Property // 1,000 tries (jqwik.tries.default); -Djqwik.tries.default=10000 for the long run
    void mutatedConfigsLoadOrFailCleanly(@ForAll("mutations") Mutation m) {
        assertTimeoutPreemptively(
                HANG, () -> mutatedConfigsLoadOrFailCleanlyChecked(m), () -> "hang on " + m);
    }

    private void mutatedConfigsLoadOrFailCleanlyChecked(Mutation m) throws IOException {
        prepare();
        Path dir = Files.createTempDirectory("peft4j-fuzz");
        try (NDManager manager = NDManager.newBaseManager()) {
            Files.write(dir.resolve("adapter_config.json"), mutate(validConfig, m));
            Files.write(dir.resolve("adapter_model.safetensors"), validWeights);
            Block base = TestModels.transformer(manager, 1);
            try (PeftModel loaded = PeftModel.load(base, dir)) {
                assertTrue(loaded.adapterNames().contains(PeftModel.DEFAULT_ADAPTER));
            } catch (IOException | IllegalArgumentException e) {
                assertTrue(
                        e.getMessage() != null && e.getMessage().contains(dir.toString()),
                        "the message must name the file: " + e.getMessage());
                assertTrue(
                        ModuleTree.of(base).nodes().stream()
                                .noneMatch(n -> n.block() instanceof AdapterWrapper),
                        "a failed load must leave the model unchanged");
            } catch (RuntimeException | Error e) {
                fail("mutation " + m + " escaped as " + e, e);
            }
        } finally {
            deleteTree(dir);
        }
    }

    static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
