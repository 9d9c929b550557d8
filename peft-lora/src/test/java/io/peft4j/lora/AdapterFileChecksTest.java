package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.io.SafetensorsFile;
import io.peft4j.core.io.SafetensorsWriter;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A loaded adapter file is checked tensor by tensor before anything reaches the model: names and
 * shapes from the header before any byte is read (an oversized extra tensor costs no memory), float
 * types only, no NaN/Inf; every error names the tensor. The model is left as it was.
 */
class AdapterFileChecksTest {

    private static final String A = "base_model.model.layers.0.self_attn.q_proj.lora_A.weight";
    private static final String B = "base_model.model.layers.0.self_attn.q_proj.lora_B.weight";

    @TempDir Path tmp;

    private Path saved(NDManager manager) throws Exception {
        Path dir = tmp.resolve("adapter");
        try (PeftModel peft =
                PeftModel.wrap(
                        TestModels.transformer(manager, 1),
                        LoraConfig.builder().rank(4).targets("q_proj").build())) {
            peft.save(dir);
        }
        return dir;
    }

    private static IllegalArgumentException loadFails(NDManager manager, Path dir) {
        return assertThrows(
                IllegalArgumentException.class,
                () -> PeftModel.load(TestModels.transformer(manager, 1), dir).close());
    }

    @Test
    void anExtraHugeTensorIsRefusedFromTheHeaderWithoutReadingIt() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            Path dir = saved(manager);
            Path file = dir.resolve("adapter_model.safetensors");
            byte[] bytes = Files.readAllBytes(file);
            long headerLength =
                    ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            JsonObject header =
                    JsonParser.parseString(
                                    new String(
                                            bytes, 8, (int) headerLength, StandardCharsets.UTF_8))
                            .getAsJsonObject();
            long dataLength = bytes.length - 8 - headerLength;
            long huge = 1L << 31; // F32 elements: 8 GiB of a sparse hole
            JsonObject entry = new JsonObject();
            entry.addProperty("dtype", "F32");
            JsonArray shape = new JsonArray();
            shape.add(huge);
            entry.add("shape", shape);
            JsonArray offsets = new JsonArray();
            offsets.add(dataLength);
            offsets.add(dataLength + 4 * huge);
            entry.add("data_offsets", offsets);
            header.add("base_model.model.extra_huge", entry);
            byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
            int padded = (h.length + 7) / 8 * 8;
            try (RandomAccessFile out = new RandomAccessFile(file.toFile(), "rw")) {
                out.setLength(0);
                ByteBuffer len =
                        ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
                out.write(len.array());
                out.write(h);
                for (int i = h.length; i < padded; i++) {
                    out.write(' ');
                }
                out.write(bytes, (int) (8 + headerLength), (int) dataLength);
                out.setLength(8 + padded + dataLength + 4 * huge);
            }
            long heapBefore =
                    Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory();
            IllegalArgumentException e = loadFails(manager, dir);
            assertTrue(
                    e.getMessage().contains("unexpected tensor base_model.model.extra_huge"),
                    e.getMessage());
            assertTrue(
                    e.getMessage().contains(file.toString()), "names the file: " + e.getMessage());
            long heapAfter = Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory();
            assertTrue(
                    heapAfter - heapBefore < (256L << 20),
                    "the tensor was not read: heap grew " + (heapAfter - heapBefore));
        }
    }

    @Test
    void anIntegerLoraAWithTheRightByteCountIsRefused() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            Path dir = saved(manager);
            rewrite(
                    manager,
                    dir,
                    tensors -> {
                        NDArray a = tensors.get(A);
                        tensors.put(
                                A,
                                manager.zeros(
                                        a.getShape(),
                                        DataType.INT32)); // 4 bytes per element, as F32
                    });
            IllegalArgumentException e = loadFails(manager, dir);
            assertTrue(
                    e.getMessage().contains("tensor " + A + " has type I32, expected a float type"),
                    e.getMessage());
        }
    }

    @Test
    void nanOrInfInALoadedAdapterIsRefusedNamingTheTensor() throws Exception {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
            try (NDManager manager = NDManager.newBaseManager()) {
                Path dir = saved(manager);
                rewrite(
                        manager,
                        dir,
                        tensors -> {
                            float[] v = tensors.get(B).toFloatArray();
                            v[v.length / 2] = bad;
                            tensors.put(B, manager.create(v, tensors.get(B).getShape()));
                        });
                IllegalArgumentException e = loadFails(manager, dir);
                assertTrue(
                        e.getMessage().contains("tensor " + B + " holds NaN or Inf"),
                        e.getMessage());
            }
        }
    }

    @Test
    void aTensorWithoutPeftsKeyPrefixIsNamed() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            Path dir = saved(manager);
            rewrite(
                    manager,
                    dir,
                    tensors ->
                            tensors.put(
                                    "layers.0.self_attn.q_proj.lora_A.weight", tensors.remove(A)));
            IllegalArgumentException e = loadFails(manager, dir);
            assertTrue(e.getMessage().contains("missing tensor " + A), e.getMessage());
            assertTrue(
                    e.getMessage()
                            .contains(
                                    "unexpected tensor layers.0.self_attn.q_proj.lora_A.weight (peft adapter keys start with"),
                    e.getMessage());
        }
    }

    @Test
    void theModelIsUnchangedAfterARefusedLoad() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            Path dir = saved(manager);
            rewrite(
                    manager,
                    dir,
                    tensors -> tensors.put(A, tensors.get(A).toType(DataType.INT64, false)));
            var model = TestModels.transformer(manager, 1);
            int before = model.getParameters().size();
            assertThrows(IllegalArgumentException.class, () -> PeftModel.load(model, dir).close());
            assertEquals(before, model.getParameters().size(), "no adapter left in the model");
        }
    }

    interface Edit {
        void apply(Map<String, NDArray> tensors);
    }

    private static void rewrite(NDManager manager, Path dir, Edit edit) throws Exception {
        Path file = dir.resolve("adapter_model.safetensors");
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            for (String name : st.names()) {
                tensors.put(name, st.load(name, manager));
            }
        }
        edit.apply(tensors);
        SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
    }
}
