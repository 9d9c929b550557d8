package io.peft4j.examples.readme;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's "Use it" code is this module's UseIt.java, verbatim, and it runs. */
class UseItTest {

    private static final Path SOURCE =
            Path.of("src/main/java/io/peft4j/examples/readme/UseIt.java");
    private static final Path README = Path.of("../README.md");

    @Test
    void theReadmeShowsTheCompiledSourceVerbatim() throws Exception {
        String source = Files.readString(SOURCE, StandardCharsets.UTF_8);
        String readme = Files.readString(README, StandardCharsets.UTF_8);
        assertTrue(
                readme.contains("```java\n" + source + "```\n"),
                "README.md must show "
                        + SOURCE
                        + " verbatim in a ```java block (copy the file into the README)");
    }

    @Test
    void itRunsAndWritesTheAdapter(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("my-adapter");
        PrintStream out = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            UseIt.main(new String[] {dir.toString()});
        } finally {
            System.setOut(out);
        }
        String printed = captured.toString(StandardCharsets.UTF_8);
        assertTrue(
                Files.exists(dir.resolve("adapter_config.json"))
                        && Files.exists(dir.resolve("adapter_model.safetensors")),
                printed);
        assertTrue(
                printed.contains("trainable params: ")
                        && printed.contains("base: ")
                        && printed.contains("merged: "),
                printed);
    }
}
