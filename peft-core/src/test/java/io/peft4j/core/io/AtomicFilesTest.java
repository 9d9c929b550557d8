package io.peft4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {

    @TempDir Path dir;

    private List<String> listing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
        }
    }

    @Test
    void writesAndReplaces() throws IOException {
        Path target = dir.resolve("config.json");
        AtomicFiles.writeString(target, "{\"r\": 8}");
        assertEquals("{\"r\": 8}", Files.readString(target));
        AtomicFiles.write(
                target,
                out -> {
                    out.write("é".getBytes(StandardCharsets.UTF_8));
                    out.close(); // a body may close its stream; the content must still be complete
                });
        assertEquals("é", Files.readString(target));
        assertEquals(List.of("config.json"), listing());
    }

    @Test
    void failingBodyLeavesTheOldFileAndNoTempFile() throws IOException {
        Path target = dir.resolve("adapter_model.safetensors");
        AtomicFiles.writeString(target, "old content");
        IOException boom = new IOException("disk full");
        IOException thrown =
                assertThrows(
                        IOException.class,
                        () ->
                                AtomicFiles.write(
                                        target,
                                        out -> {
                                            out.write(
                                                    new byte[200_000]); // past the buffer, so bytes
                                            // really reached the temp
                                            // file
                                            throw boom;
                                        }));
        assertSame(boom, thrown);
        assertEquals("old content", Files.readString(target));
        assertEquals(List.of("adapter_model.safetensors"), listing());

        RuntimeException bug = new IllegalStateException("bug");
        assertSame(
                bug,
                assertThrows(
                        IllegalStateException.class,
                        () ->
                                AtomicFiles.write(
                                        target,
                                        out -> {
                                            out.write(1);
                                            throw bug;
                                        })));
        assertEquals("old content", Files.readString(target));
        assertEquals(List.of("adapter_model.safetensors"), listing());
    }

    @Test
    void failingFirstWriteCreatesNothing() throws IOException {
        Path target = dir.resolve("new.bin");
        assertThrows(
                UncheckedIOException.class,
                () ->
                        AtomicFiles.write(
                                target,
                                out -> {
                                    throw new UncheckedIOException(new IOException("nope"));
                                }));
        assertEquals(List.of(), listing());
    }

    @Test
    void safetensorsWriterFailingMidDataKeepsThePreviousCheckpoint() throws IOException {
        Path target = dir.resolve("ckpt.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            SafetensorsWriter.write(target, Map.of("w", m.create(new float[] {1, 2})), null);
            byte[] before = Files.readAllBytes(target);
            // "b" passes validation but fails when its bytes are copied, after the header and
            // tensor "a" have reached the temporary file.
            NDArray real = m.create(new float[] {4, 5});
            NDArray failing =
                    (NDArray)
                            Proxy.newProxyInstance(
                                    NDArray.class.getClassLoader(),
                                    new Class<?>[] {NDArray.class},
                                    (proxy, method, args) -> {
                                        if (method.getName().equals("toByteBuffer")) {
                                            throw new IllegalStateException("device lost");
                                        }
                                        try {
                                            return method.invoke(real, args);
                                        } catch (InvocationTargetException e) {
                                            throw e.getCause();
                                        }
                                    });
            IllegalStateException e =
                    assertThrows(
                            IllegalStateException.class,
                            () ->
                                    SafetensorsWriter.write(
                                            target,
                                            Map.of("a", m.create(new float[] {3}), "b", failing),
                                            null));
            assertEquals("device lost", e.getMessage());
            assertArrayEquals(before, Files.readAllBytes(target));
            assertEquals(List.of("ckpt.safetensors"), listing());
        }
    }

    @Test
    void targetThatIsADirectoryIsRefused() throws IOException {
        Path sub = Files.createDirectory(dir.resolve("sub"));
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.writeString(sub, "x"));
        assertEquals("cannot write " + sub + ": it is a directory", e.getMessage());
    }
}
