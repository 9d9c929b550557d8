package io.peft4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The writer's bytes against files laid out by hand the way Hugging Face's library writes them. */
class SafetensorsHeaderFormatTest {

    @TempDir Path dir;

    @Test
    void fileIsByteIdenticalToHuggingFaceLayout() throws IOException {
        Path file = dir.resolve("hf.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            // Given out of order: the file must sort them.
            tensors.put("lm_head.weight", m.create(new float[] {5, 6, 7}, new Shape(3)));
            tensors.put("embed.weight", m.create(new float[] {1, 2, 3, 4}, new Shape(2, 2)));
            SafetensorsWriter.write(file, tensors, null);
        }
        // What safetensors.torch.save_file({...}) writes for these two F32 tensors: compact JSON,
        // __metadata__ first, offsets relative to the data region, then spaces up to a multiple of
        // 8.
        String json =
                "{\"__metadata__\":{\"format\":\"pt\"},"
                        + "\"embed.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                        + "\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[16,28]}}";
        assertEquals(167, json.length());
        String padded = json + " "; // 167 -> 168
        ByteBuffer expected = ByteBuffer.allocate(8 + 168 + 28).order(ByteOrder.LITTLE_ENDIAN);
        expected.putLong(168);
        expected.put(padded.getBytes(StandardCharsets.US_ASCII));
        for (float v : new float[] {1, 2, 3, 4, 5, 6, 7}) {
            expected.putFloat(v);
        }
        byte[] actual = Files.readAllBytes(file);
        assertEquals(
                new String(expected.array(), 8, 168, StandardCharsets.US_ASCII),
                new String(actual, 8, Math.min(168, actual.length - 8), StandardCharsets.US_ASCII));
        assertArrayEquals(expected.array(), actual);
    }

    @Test
    void headerIsAlwaysPaddedToEightAndMetadataIsMergedSorted() throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            for (int nameLength = 1; nameLength <= 9; nameLength++) {
                String name = "t".repeat(nameLength);
                Path file = dir.resolve("pad" + nameLength + ".safetensors");
                SafetensorsWriter.write(
                        file,
                        Map.of(name, m.create(new int[] {nameLength})),
                        Map.of("peft_type", "LORA", "base", "x"));
                byte[] bytes = Files.readAllBytes(file);
                long headerLength =
                        ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
                assertEquals(0, headerLength % 8, "header length " + headerLength);
                String header = new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8);
                String json =
                        "{\"__metadata__\":{\"base\":\"x\",\"format\":\"pt\",\"peft_type\":\"LORA\"},"
                                + "\""
                                + name
                                + "\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
                assertEquals(json, header.stripTrailing());
                assertEquals(
                        " ".repeat((int) headerLength - json.length()),
                        header.substring(json.length()));
                assertEquals(8 + headerLength + 4, bytes.length);
            }
        }
    }

    @Test
    void namesAndMetadataAreEscapedAsSerdeJsonDoes() throws IOException {
        Path file = dir.resolve("escape.safetensors");
        String name = "a\"b\\c\nd\u0001é";
        try (NDManager m = NDManager.newBaseManager()) {
            SafetensorsWriter.write(
                    file,
                    Map.of(name, m.create(new byte[] {7})),
                    Map.of("format", "np", "note", "tab\there"));
            byte[] bytes = Files.readAllBytes(file);
            int headerLength =
                    (int) ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            String header =
                    new String(bytes, 8, headerLength, StandardCharsets.UTF_8).stripTrailing();
            assertEquals(
                    "{\"__metadata__\":{\"format\":\"np\",\"note\":\"tab\\there\"},"
                            + "\"a\\\"b\\\\c\\nd\\u0001é\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
                    header);
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                assertEquals(Arrays.asList(name), f.names());
                assertEquals(Map.of("format", "np", "note", "tab\there"), f.metadata());
                assertArrayEquals(new byte[] {7}, f.load(name, m).toByteArray());
            }
        }
    }
}
