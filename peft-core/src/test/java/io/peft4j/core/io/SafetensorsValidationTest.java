package io.peft4j.core.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each malformation gets a hand-crafted file and a check of what the message says. */
class SafetensorsValidationTest {

    @TempDir Path dir;

    private static final String F32_2 = "\"dtype\":\"F32\",\"shape\":[2]";

    /** Opens {@code bytes} as a file and returns the message of the expected format error. */
    private String reject(byte[] bytes) throws IOException {
        Path file = Files.createTempFile(dir, "bad", ".safetensors");
        Files.write(file, bytes);
        SafetensorsFormatException e =
                assertThrows(
                        SafetensorsFormatException.class, () -> SafetensorsFile.open(file).close());
        assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
        assertEquals(file, e.file());
        return e.getMessage();
    }

    private String reject(String header, int dataBytes) throws IOException {
        return reject(SafetensorsTestFiles.raw(header, new byte[dataBytes]));
    }

    private static void assertContains(String message, String... parts) {
        for (String part : parts) {
            assertTrue(message.contains(part), "expected '" + part + "' in: " + message);
        }
    }

    private static byte[] withLength(long headerLength, int totalSize) {
        ByteBuffer b = ByteBuffer.allocate(totalSize).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLength);
        for (int i = 8; i < totalSize; i++) {
            b.put((byte) '{');
        }
        return b.array();
    }

    @Test
    void fileShorterThanTheLengthPrefix() throws IOException {
        assertContains(reject(new byte[0]), "file is 0 bytes", "8-byte header length");
        assertContains(reject(new byte[5]), "file is 5 bytes");
    }

    @Test
    void headerLengthBeyondTheFileOrAbsurd() throws IOException {
        assertContains(
                reject(withLength(100, 50)),
                "header length 100 runs past the end of the file",
                "50 bytes");
        assertContains(reject(withLength(1L << 40, 64)), "header length 1099511627776 is absurd");
        assertContains(reject(withLength(-1L, 64)), "header length 18446744073709551615 is absurd");
        assertContains(reject(withLength(100_000_001L, 64)), "is absurd (limit 100000000 bytes)");
        assertContains(reject(withLength(0, 8)), "malformed JSON header");
    }

    @Test
    void malformedJson() throws IOException {
        assertContains(reject("{\"a\":", 0), "malformed JSON header");
        assertContains(reject("{\"a\":{\"dtype\":\"F32\",}}", 0), "malformed JSON header");
        assertContains(reject("{'a':1}", 0), "malformed JSON header");
        assertContains(reject("{} {}", 0), "malformed JSON header");
        assertContains(reject("{} x", 0), "malformed JSON header");
        assertContains(
                reject(
                        new byte[] {
                            8,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            '{',
                            '"',
                            (byte) 0xC3,
                            (byte) 0x28,
                            '"',
                            ':',
                            '1',
                            '}'
                        }),
                "header is not valid UTF-8");
    }

    @Test
    void deeplyNestedGarbageIsAnErrorNotAStackOverflow() throws IOException {
        assertContains(reject("[".repeat(200_000), 0), "header is not a JSON object");
        assertContains(
                reject("{\"a\":" + "[".repeat(200_000), 0), "tensor 'a': entry is BEGIN_ARRAY");
        String deepUnknownField =
                "{\"a\":{\"x\":" + "[".repeat(200_000) + "]".repeat(200_000) + "}}";
        assertContains(reject(deepUnknownField, 0), "malformed JSON header");
        assertContains(
                reject("{\"__metadata__\":" + "{\"a\":".repeat(100_000), 0),
                "__metadata__ entry 'a' is BEGIN_OBJECT");
        assertContains(
                reject("{\"a\":{\"dtype\":\"F32\",\"shape\":" + "[".repeat(100_000), 0),
                "tensor 'a': shape contains BEGIN_ARRAY");
    }

    @Test
    void headerNotAnObjectOrEntryNotAnObject() throws IOException {
        assertContains(reject("[1,2]", 0), "header is not a JSON object", "BEGIN_ARRAY");
        assertContains(reject("\"x\"", 0), "header is not a JSON object");
        assertContains(
                reject("{\"a\":[1]}", 0), "tensor 'a': entry is BEGIN_ARRAY, expected an object");
        assertContains(reject("{\"__metadata__\":[\"x\"]}", 0), "__metadata__ is BEGIN_ARRAY");
        assertContains(
                reject("{\"__metadata__\":{\"k\":1}}", 0),
                "__metadata__ entry 'k' is NUMBER, expected a string");
    }

    @Test
    void missingFields() throws IOException {
        assertContains(
                reject("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "tensor 'a': missing \"dtype\"");
        assertContains(
                reject("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8),
                "tensor 'a': missing \"shape\"");
        assertContains(
                reject("{\"a\":{" + F32_2 + "}}", 8), "tensor 'a': missing \"data_offsets\"");
    }

    @Test
    void unknownDtype() throws IOException {
        assertContains(
                reject("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "tensor 'a': unknown or unsupported safetensors dtype 'Q4'");
        assertContains(
                reject("{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "'f32'");
        assertContains(
                reject("{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "tensor 'a': dtype is NUMBER, expected a string");
    }

    @Test
    void badShapeDimensions() throws IOException {
        assertContains(
                reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8),
                "tensor 'a': shape contains negative value -2");
        assertContains(
                reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8),
                "tensor 'a': shape contains non-integer value 2.5");
        assertContains(
                reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8),
                "non-integer value 2.0");
        assertContains(
                reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e3],\"data_offsets\":[0,8]}}", 8),
                "non-integer value 1e3");
        assertContains(
                reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8),
                "tensor 'a': shape contains STRING, expected a non-negative integer");
        assertContains(
                reject(
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}",
                        8),
                "larger than 2^63-1");
        assertContains(
                reject("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8),
                "tensor 'a': shape is NUMBER, expected an array of integers");
        assertContains(
                reject(
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":["
                                + "1,".repeat(70)
                                + "1],\"data_offsets\":[0,4]}}",
                        4),
                "more than 64 entries");
    }

    @Test
    void shapeTimesDtypeSizeMustMatchTheByteRange() throws IOException {
        assertContains(
                reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12),
                "tensor 'a': shape [2, 2] of F32 needs 16 bytes but data_offsets [0, 12] span 12");
        assertContains(
                reject("{\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,12]}}", 12),
                "shape [3] of BF16 needs 6 bytes");
        // 2^62 * 4 elements overflow a long; 2^61 * 4 bytes overflows too. Neither may wrap to a
        // small number that happens to match.
        assertContains(
                reject(
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]}}",
                        0),
                "needs more than 2^63-1 bytes");
        assertContains(
                reject(
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}",
                        0),
                "needs more than 2^63-1 bytes");
        assertContains(
                reject(
                        "{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952,0],\"data_offsets\":[0,8]}}",
                        8),
                "needs 0 bytes but data_offsets [0, 8] span 8");
    }

    @Test
    void offsetsOutOfRangeOrReversed() throws IOException {
        assertContains(
                reject("{\"a\":{" + F32_2 + ",\"data_offsets\":[8,0]}}", 8),
                "tensor 'a': data_offsets [8, 0] have begin > end");
        assertContains(
                reject("{\"a\":{" + F32_2 + ",\"data_offsets\":[4,12]}}", 8),
                "tensor 'a': data_offsets [4, 12] run past the data region of 8 bytes");
        assertContains(
                reject(
                        "{\"a\":{"
                                + F32_2
                                + ",\"data_offsets\":[9223372036854775800,9223372036854775807]}}",
                        8),
                "run past the data region");
        assertContains(
                reject("{\"a\":{" + F32_2 + ",\"data_offsets\":[0]}}", 8),
                "tensor 'a': data_offsets has 1 entries, expected 2");
        assertContains(
                reject("{\"a\":{" + F32_2 + ",\"data_offsets\":[0,8,16]}}", 8), "has 3 entries");
        assertContains(
                reject("{\"a\":{" + F32_2 + ",\"data_offsets\":[-8,0]}}", 8),
                "data_offsets contains negative value -8");
    }

    @Test
    void overlappingRangesHolesAndTrailingBytes() throws IOException {
        assertContains(
                reject(
                        "{\"a\":{"
                                + F32_2
                                + ",\"data_offsets\":[0,8]},\"b\":{"
                                + F32_2
                                + ",\"data_offsets\":[4,12]}}",
                        12),
                "tensors 'a' [0, 8] and 'b' [4, 12] overlap");
        assertContains(
                reject(
                        "{\"a\":{"
                                + F32_2
                                + ",\"data_offsets\":[0,8]},\"b\":{"
                                + F32_2
                                + ",\"data_offsets\":[0,8]}}",
                        8),
                "tensors 'a' [0, 8] and 'b' [0, 8] overlap");
        assertContains(
                reject(
                        "{\"a\":{"
                                + F32_2
                                + ",\"data_offsets\":[0,8]},\"b\":{"
                                + F32_2
                                + ",\"data_offsets\":[12,20]}}",
                        20),
                "hole of 4 bytes between tensor 'a' (ends at 8) and tensor 'b' (begins at 12)");
        assertContains(
                reject("{\"a\":{" + F32_2 + ",\"data_offsets\":[4,12]}}", 12),
                "hole of 4 bytes between the start of the data region and tensor 'a'");
        assertContains(
                reject("{\"a\":{" + F32_2 + ",\"data_offsets\":[0,8]}}", 12),
                "4 unused bytes after the last tensor");
        assertContains(reject("{}", 3), "3 unused bytes after the last tensor");
        // An empty tensor inside another's range overlaps it.
        assertContains(
                reject(
                        "{\"a\":{"
                                + F32_2
                                + ",\"data_offsets\":[0,8]},\"e\":{\"dtype\":\"F32\","
                                + "\"shape\":[0],\"data_offsets\":[4,4]}}",
                        8),
                "tensors 'a' [0, 8] and 'e' [4, 4] overlap");
    }

    @Test
    void duplicateKeys() throws IOException {
        assertContains(
                reject(
                        "{\"a\":{"
                                + F32_2
                                + ",\"data_offsets\":[0,8]},\"a\":{"
                                + F32_2
                                + ",\"data_offsets\":[0,8]}}",
                        8),
                "duplicate key 'a' in header");
        assertContains(
                reject("{\"a\":{" + F32_2 + ",\"dtype\":\"F16\",\"data_offsets\":[0,8]}}", 8),
                "tensor 'a': duplicate key 'dtype'");
        assertContains(
                reject("{\"__metadata__\":{},\"__metadata__\":{}}", 0),
                "duplicate key '__metadata__'");
        assertContains(
                reject("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0),
                "duplicate key 'k' in __metadata__");
    }
}
