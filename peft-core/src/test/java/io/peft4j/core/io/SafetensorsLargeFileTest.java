package io.peft4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A file larger than 2 GiB (sparse, so it costs no disk): offsets past 2^31 must be read correctly,
 * which a single {@code MappedByteBuffer} of the whole file could not do.
 */
class SafetensorsLargeFileTest {

    @TempDir Path dir;

    @Test
    void tensorBeyondTwoGibibytesLoads() throws IOException {
        long big = (1L << 31) + 16;
        String header =
                "{\"big\":{\"dtype\":\"U8\",\"shape\":["
                        + big
                        + "],\"data_offsets\":[0,"
                        + big
                        + "]},"
                        + "\"tail\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":["
                        + big
                        + ","
                        + (big + 8)
                        + "]}}";
        byte[] headerBytes = header.getBytes(StandardCharsets.UTF_8);
        Path file = dir.resolve("large.safetensors");
        try (FileChannel ch =
                FileChannel.open(
                        file,
                        StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE,
                        StandardOpenOption.SPARSE)) {
            ByteBuffer prefix =
                    ByteBuffer.allocate(8 + headerBytes.length).order(ByteOrder.LITTLE_ENDIAN);
            prefix.putLong(headerBytes.length).put(headerBytes).flip();
            ch.write(prefix, 0);
            ByteBuffer tail =
                    ByteBuffer.allocate(8)
                            .order(ByteOrder.LITTLE_ENDIAN)
                            .putFloat(1.5f)
                            .putFloat(-3f)
                            .flip();
            ch.write(tail, 8 + headerBytes.length + big);
        }
        try (SafetensorsFile f = SafetensorsFile.open(file);
                NDManager m = NDManager.newBaseManager()) {
            assertEquals(big, f.info("big").numel());
            assertArrayEquals(new float[] {1.5f, -3f}, f.loadFloats("tail"));
            NDArray tail = f.load("tail", m);
            assertArrayEquals(new float[] {1.5f, -3f}, tail.toFloatArray());
            assertThrows(IllegalArgumentException.class, () -> f.loadFloats("big"));
        }
    }
}
