package io.peft4j.core.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/**
 * A folder replaced by {@link FolderSwap} always holds one whole save: after failed saves (the
 * writer throws part-way) and after every state a kill can leave between the renames, the folder
 * read is the last completed save (or, for a kill after the old folder was set aside, the new one),
 * files that only the old folder had are kept, and no sibling is left once recovered.
 */
class FolderSwapProperties {

    private static final List<String> SAVED =
            List.of("adapter_config.json", "adapter_model.safetensors");

    private static void writeSave(Path dir, int n, int files) throws IOException {
        for (int i = 0; i < files; i++) {
            Files.writeString(dir.resolve(SAVED.get(i)), "save " + n, StandardCharsets.UTF_8);
        }
    }

    private static Map<String, String> contents(Path dir) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                m.put(p.getFileName().toString(), Files.readString(p));
            }
        }
        return m;
    }

    private static Map<String, String> expected(int save, boolean withLog) {
        Map<String, String> m = new TreeMap<>();
        for (String f : SAVED) {
            m.put(f, "save " + save);
        }
        if (withLog) {
            m.put("loss.csv", "log");
        }
        return m;
    }

    @Property(tries = 100)
    void failedSavesLeaveTheLastCompleteOne(
            @ForAll @Size(min = 1, max = 12) List<@IntRange(min = 0, max = 2) Integer> plan)
            throws IOException {
        Path root = Files.createTempDirectory("swap-prop");
        try {
            Path x = root.resolve("adapter");
            int last = -1;
            for (int n = 0; n < plan.size(); n++) {
                int filesBeforeFailure =
                        plan.get(
                                n); // 2: the save completes; 0 or 1: it fails after that many files
                int save = n;
                if (filesBeforeFailure == 2) {
                    FolderSwap.replace(x, d -> writeSave(d, save, 2));
                    last = n;
                    if (!Files.exists(x.resolve("loss.csv"))) {
                        Files.writeString(x.resolve("loss.csv"), "log");
                    }
                } else {
                    assertThrows(
                            IOException.class,
                            () ->
                                    FolderSwap.replace(
                                            x,
                                            d -> {
                                                writeSave(d, save, filesBeforeFailure);
                                                throw new IOException(
                                                        "injected after "
                                                                + filesBeforeFailure
                                                                + " files");
                                            }));
                }
                if (last < 0) {
                    assertEquals(false, Files.exists(x));
                } else {
                    assertEquals(expected(last, true), contents(x));
                }
                assertEquals(
                        last < 0 ? List.of() : List.of("adapter"), names(root), "no sibling left");
            }
        } finally {
            FolderSwap.deleteTree(root);
        }
    }

    /**
     * Kill points: 0 writing .X.new; 1 after X -> .X.old; 2 after .X.new -> X; 3 part-way through
     * the carry-over.
     */
    @Property(tries = 40)
    void everyKillPointRecoversToOneWholeSave(
            @ForAll @IntRange(min = 0, max = 3) int point,
            @ForAll @IntRange(min = 0, max = 1) int partialFiles)
            throws IOException {
        Path root = Files.createTempDirectory("swap-kill");
        try {
            Path x = root.resolve("adapter");
            Path fresh = root.resolve(".adapter.new");
            Path old = root.resolve(".adapter.old");
            Path oldPlace = point == 0 ? x : old;
            Files.createDirectories(oldPlace);
            writeSave(oldPlace, 1, 2);
            Files.writeString(oldPlace.resolve("loss.csv"), "log");
            Path newPlace = point <= 1 ? fresh : x;
            Files.createDirectories(newPlace);
            writeSave(newPlace, 2, point == 0 ? partialFiles : 2);
            if (point == 3) {
                Files.move(old.resolve("loss.csv"), x.resolve("loss.csv"));
            }
            Path read = FolderSwap.readable(x);
            Map<String, String> seen = contents(read);
            int expectedSave = point == 0 ? 1 : 2;
            for (String f : SAVED) {
                assertEquals("save " + expectedSave, seen.get(f), "point " + point + ": " + seen);
            }
            FolderSwap.recover(x);
            assertEquals(expected(expectedSave, true), contents(x), "point " + point);
            assertEquals(List.of("adapter"), names(root));
        } finally {
            FolderSwap.deleteTree(root);
        }
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
