package io.peft4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import io.peft4j.core.contract.TestModels;
import io.peft4j.lora.LoraConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An adapter folder is replaced as a whole: a save that fails between its two files (injected), or
 * a process that dies between the renames of the swap, leaves one complete save that loads with its
 * own config.
 */
class AdapterFolderSwapTest {

    @TempDir Path tmp;

    @AfterEach
    void noInjection() {
        AdapterFiles.betweenFiles = d -> {};
    }

    @Test
    void aSaveFailingAtItsSecondFileLeavesTheOldAdapterWhole() throws Exception {
        Path dir = tmp.resolve("adapter");
        try (NDManager manager = NDManager.newBaseManager()) {
            save(manager, dir, 4, 16, 0.25f, null);
            Files.writeString(dir.resolve("loss.csv"), "step,loss\n");
            IOException e =
                    assertThrows(
                            IOException.class,
                            () ->
                                    save(
                                            manager,
                                            dir,
                                            16,
                                            64,
                                            0.5f,
                                            d -> {
                                                throw new IOException(
                                                        "injected: disk full writing "
                                                                + d.resolve(
                                                                        AdapterFiles.CONFIG_FILE));
                                            }));
            assertTrue(e.getMessage().contains("injected"), e.getMessage());
            assertLoads(manager, dir, 4, 16, 0.25f);
            assertEquals(
                    "step,loss\n", Files.readString(dir.resolve("loss.csv")), "other files stay");
            assertEquals(List.of("adapter"), names(tmp), "no sibling left behind");
            // and the next save goes through, keeping the other files
            save(manager, dir, 16, 64, 0.5f, null);
            assertLoads(manager, dir, 16, 64, 0.5f);
            assertTrue(Files.exists(dir.resolve("loss.csv")));
            assertEquals(List.of("adapter"), names(tmp));
        }
    }

    /** Every state between the renames of a swap (as a kill leaves it) loads as one whole save. */
    @Test
    void everyInterruptedSwapStateLoadsAsOneSave() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            Path old = tmp.resolve("old");
            Path fresh = tmp.resolve("new");
            save(manager, old, 4, 16, 0.25f, null);
            save(manager, fresh, 16, 64, 0.5f, null);
            Files.writeString(old.resolve("training_run.json"), "{}");

            // killed after X -> .X.old, before .X.new -> X: the new save is complete and wins
            Path x = tmp.resolve("x1");
            copy(old, tmp.resolve(".x1.old"));
            copy(fresh, tmp.resolve(".x1.new"));
            assertLoads(manager, x, 16, 64, 0.5f);
            assertTrue(Files.exists(x.resolve("training_run.json")), "other files carried over");
            assertFalse(Files.exists(tmp.resolve(".x1.old")));

            // killed while writing .X.new (X untouched): the old save stays, the partial new one
            // goes
            Path y = tmp.resolve("x2");
            copy(old, y);
            copy(fresh, tmp.resolve(".x2.new"));
            Files.delete(tmp.resolve(".x2.new").resolve(AdapterFiles.CONFIG_FILE));
            assertLoads(manager, y, 4, 16, 0.25f);
            save(manager, y, 16, 64, 0.5f, null); // the next writer clears the leftover
            assertFalse(Files.exists(tmp.resolve(".x2.new")));
            assertLoads(manager, y, 16, 64, 0.5f);

            // killed after the swap, before the old folder was deleted
            Path z = tmp.resolve("x3");
            copy(fresh, z);
            copy(old, tmp.resolve(".x3.old"));
            assertLoads(manager, z, 16, 64, 0.5f);
            io.peft4j.core.io.FolderSwap.recover(z);
            assertTrue(Files.exists(z.resolve("training_run.json")));
            assertFalse(Files.exists(tmp.resolve(".x3.old")));
        }
    }

    @Test
    void namedAdaptersAreSavedAndLoadedWithTheirFolder() throws Exception {
        Path dir = tmp.resolve("multi");
        try (NDManager manager = NDManager.newBaseManager();
                PeftModel peft =
                        PeftModel.wrap(TestModels.transformer(manager, 1), config(4, 16))) {
            peft.addAdapter("second", config(16, 64));
            fill(peft, 0.25f);
            peft.save(dir);
            peft.deleteAdapter("second");
            peft.addAdapter("second", config(8, 32));
            AdapterFiles.betweenFiles =
                    d -> {
                        if (d.getFileName().toString().equals("second")) {
                            throw new IOException("injected");
                        }
                    };
            assertThrows(IOException.class, () -> peft.save(dir));
            AdapterFiles.betweenFiles = d -> {};
            try (PeftModel loaded = PeftModel.load(TestModels.transformer(manager, 1), dir)) {
                assertEquals(
                        16,
                        ((LoraConfig) loaded.config("second")).rank(),
                        "the old named adapter, whole");
            }
            assertEquals(List.of("multi"), names(tmp));
        }
    }

    private static LoraConfig config(int rank, float alpha) {
        return LoraConfig.builder().rank(rank).alpha(alpha).targets("q_proj", "v_proj").build();
    }

    private static void fill(PeftModel peft, float value) {
        for (Parameter p : peft.trainableParameters().values()) {
            float[] v = new float[(int) p.getArray().size()];
            Arrays.fill(v, value);
            p.getArray().set(v);
        }
    }

    private static void save(
            NDManager manager,
            Path dir,
            int rank,
            float alpha,
            float value,
            io.peft4j.core.io.IoConsumer<Path> fault)
            throws IOException {
        try (PeftModel peft =
                PeftModel.wrap(TestModels.transformer(manager, 1), config(rank, alpha))) {
            fill(peft, value);
            if (fault != null) {
                AdapterFiles.betweenFiles = fault;
            }
            try {
                peft.save(dir);
            } finally {
                AdapterFiles.betweenFiles = d -> {};
            }
        }
    }

    private static void assertLoads(NDManager manager, Path dir, int rank, float alpha, float value)
            throws IOException {
        try (PeftModel loaded = PeftModel.load(TestModels.transformer(manager, 1), dir)) {
            LoraConfig c = (LoraConfig) loaded.config(PeftModel.DEFAULT_ADAPTER);
            assertEquals(rank, c.rank());
            assertEquals(alpha, c.alpha());
            for (Parameter p : loaded.trainableParameters().values()) {
                for (float x : p.getArray().toFloatArray()) {
                    assertEquals(value, x, "tensors of the save with r=" + rank);
                }
            }
        }
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static void copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(from)) {
            for (Path p : s.toList()) {
                Files.copy(p, to.resolve(p.getFileName().toString()));
            }
        }
    }
}
