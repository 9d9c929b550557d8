package io.peft4j.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A sharded checkpoint that disagrees with its index or its config.json: a clear error naming the
 * file and the tensor, raised before any tensor is read (so before any weight memory exists).
 */
class ShardedCheckpointErrorsTest {

    @TempDir Path dir;

    private List<Path> shards;

    @BeforeEach
    void write() {
        shards =
                RandomCheckpoint.builder(RandomCheckpoint.Architecture.TINY_QWEN2)
                        .maxShardBytes(RandomCheckpointTest.SMALL_SHARDS)
                        .build()
                        .write(dir);
    }

    private JsonObject index() {
        return Json.readObject(dir.resolve("model.safetensors.index.json"));
    }

    private void writeIndex(JsonObject index) throws IOException {
        Files.writeString(
                dir.resolve("model.safetensors.index.json"),
                new GsonBuilder().setPrettyPrinting().create().toJson(index));
    }

    @Test
    void aShardTheIndexNamesIsMissing() throws IOException {
        Path gone = shards.get(1);
        Files.delete(gone);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> HfCheckpoint.load(dir, Device.cpu()));
        String shard = gone.getFileName().toString();
        assertTrue(
                e.getMessage().contains(shard) && e.getMessage().contains("does not exist"),
                e.getMessage());
        // names a tensor the index maps there
        String tensor =
                index().getAsJsonObject("weight_map").entrySet().stream()
                        .filter(x -> x.getValue().getAsString().equals(shard))
                        .findFirst()
                        .orElseThrow()
                        .getKey();
        assertTrue(e.getMessage().contains("maps " + tensor + " to " + shard), e.getMessage());
    }

    @Test
    void aTensorTheIndexDoesNotList() throws IOException {
        JsonObject index = index();
        String dropped = "model.layers.1.mlp.up_proj.weight";
        String shard = index.getAsJsonObject("weight_map").remove(dropped).getAsString();
        writeIndex(index);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> HfCheckpoint.load(dir, Device.cpu()));
        assertTrue(
                e.getMessage().contains(shard)
                        && e.getMessage().contains(dropped)
                        && e.getMessage().contains("does not map"),
                e.getMessage());
    }

    @Test
    void aTensorTheIndexListsButNoShardHolds() throws IOException {
        JsonObject index = index();
        String shard = shards.get(0).getFileName().toString();
        index.getAsJsonObject("weight_map")
                .addProperty("model.layers.0.self_attn.extra.weight", shard);
        writeIndex(index);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> HfCheckpoint.load(dir, Device.cpu()));
        assertTrue(
                e.getMessage().contains(shard)
                        && e.getMessage().contains("model.layers.0.self_attn.extra.weight")
                        && e.getMessage().contains("no such tensor"),
                e.getMessage());
    }

    @Test
    void aShapeThatDoesNotMatchConfigJsonFailsBeforeAnyTensorIsRead() throws IOException {
        // config.json says intermediate 48; the shards hold 64-wide MLPs
        JsonObject config = Json.readObject(dir.resolve("config.json"));
        config.addProperty("intermediate_size", 48);
        Files.writeString(dir.resolve("config.json"), config.toString());
        CheckpointException e =
                assertThrows(CheckpointException.class, () -> HfCheckpoint.load(dir, Device.cpu()));
        String gateShard =
                index().getAsJsonObject("weight_map")
                        .get("model.layers.0.mlp.gate_proj.weight")
                        .getAsString();
        String line =
                e.mismatched().stream()
                        .filter(m -> m.startsWith("model.layers.0.mlp.gate_proj.weight:"))
                        .findFirst()
                        .orElseThrow(() -> new AssertionError(e.getMessage()));
        assertTrue(
                line.contains("(64, 32)") && line.contains("(48, 32)") && line.contains(gateShard),
                line);
        assertEquals(
                2 * 3, e.mismatched().size(), "gate, up, down of both layers: " + e.getMessage());

        // the same through a source that counts reads: none happened, and the parameters never
        // held more than their placeholders
        AtomicInteger reads = new AtomicInteger();
        LlamaConfig wrong = LlamaConfig.fromJson(dir.resolve("config.json"));
        try (SafetensorsCheckpoint real = SafetensorsCheckpoint.open(dir)) {
            TensorSource counting = new CountingSource(real, reads);
            assertThrows(
                    CheckpointException.class,
                    () ->
                            HfCheckpoint.loadInto(
                                            new LlamaForCausalLM(wrong),
                                            counting,
                                            dir,
                                            Device.cpu(),
                                            DataType.FLOAT32,
                                            java.util.Set.of())
                                    .close());
        }
        assertEquals(0, reads.get(), "tensors read before the shapes were checked");
    }

    @Test
    void placeholdersHoldNoWeightMemoryAndLoadingReplacesThemAll() {
        AtomicInteger reads = new AtomicInteger();
        LlamaConfig config = LlamaConfig.fromJson(dir.resolve("config.json"));
        try (SafetensorsCheckpoint real = SafetensorsCheckpoint.open(dir);
                ai.djl.Model model =
                        HfCheckpoint.loadInto(
                                new LlamaForCausalLM(config),
                                new CountingSource(real, reads),
                                dir,
                                Device.cpu(),
                                DataType.FLOAT32,
                                java.util.Set.of())) {
            assertEquals(real.names().size(), reads.get(), "each tensor read once");
            LlamaForCausalLM m = (LlamaForCausalLM) model.getBlock();
            m.namedParameters()
                    .forEach(
                            (name, p) -> {
                                // a placeholder is one zero broadcast: every value equal; a loaded
                                // tensor is random
                                NDArray a = p.getArray();
                                if (a.size() > 1) {
                                    assertTrue(
                                            a.max().getFloat() > a.min().getFloat(),
                                            name + " still a placeholder");
                                }
                            });
        }
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray placeholder =
                    ShapeOnlyInitializer.INSTANCE.initialize(
                            m, new Shape(1000, 1000), DataType.FLOAT32);
            assertEquals(new Shape(1000, 1000), placeholder.getShape());
            assertEquals(0f, placeholder.abs().max().getFloat());
        }
    }

    /** Delegates to a real checkpoint and counts data reads. */
    private static final class CountingSource implements TensorSource {
        private final TensorSource inner;
        private final AtomicInteger reads;

        CountingSource(TensorSource inner, AtomicInteger reads) {
            this.inner = inner;
            this.reads = reads;
        }

        @Override
        public List<String> names() {
            return inner.names();
        }

        @Override
        public Shape shape(String name) {
            return inner.shape(name);
        }

        @Override
        public DataType dataType(String name) {
            return inner.dataType(name);
        }

        @Override
        public String origin(String name) {
            return inner.origin(name);
        }

        @Override
        public NDArray load(String name, NDManager manager) {
            reads.incrementAndGet();
            return inner.load(name, manager);
        }

        @Override
        public void close() {}
    }
}
