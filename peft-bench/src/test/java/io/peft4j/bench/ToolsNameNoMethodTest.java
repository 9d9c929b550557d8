package io.peft4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The tools' main code (this module's and peft-examples') reaches methods only through the
 * registry: no method module's package is named, so no method class, no {@code instanceof} on one.
 * The exceptions: the README's library example ({@code readme/UseIt.java}), which shows a user's
 * own code, and peft-bench's {@code experiments} and {@code spark} packages, studies of one method
 * each (its own modes and knobs), run by hand and named for it.
 */
class ToolsNameNoMethodTest {

    private static final Pattern METHOD_PACKAGE =
            Pattern.compile("io\\.peft4j\\.(lora|mos|shadow|masa|lift)\\.");

    @Test
    void noMethodPackageIsNamedInTheToolsMainCode() throws IOException {
        List<Path> roots =
                List.of(Path.of("src/main/java"), Path.of("../peft-examples/src/main/java"));
        List<String> found = new ArrayList<>();
        int files = 0;
        for (Path root : roots) {
            assertTrue(Files.isDirectory(root), root.toAbsolutePath() + " is missing");
            try (Stream<Path> all = Files.walk(root)) {
                for (Path f :
                        (Iterable<Path>)
                                all.filter(p -> p.toString().endsWith(".java"))::iterator) {
                    if (f.endsWith(Path.of("readme", "UseIt.java"))
                            || f.toString().contains("/bench/experiments/")
                            || f.toString().contains("/bench/spark/")) {
                        continue;
                    }
                    files++;
                    List<String> lines;
                    try {
                        lines = Files.readAllLines(f);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                    for (int i = 0; i < lines.size(); i++) {
                        Matcher m = METHOD_PACKAGE.matcher(lines.get(i));
                        if (m.find()) {
                            found.add(f + ":" + (i + 1) + ": " + lines.get(i).strip());
                        }
                    }
                }
            }
        }
        assertTrue(files > 20, "scanned only " + files + " files");
        assertEquals(List.of(), found, "method named in a tool's main code");
    }
}
