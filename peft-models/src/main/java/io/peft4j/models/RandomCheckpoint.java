package io.peft4j.models;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import io.peft4j.core.io.AtomicFiles;
import io.peft4j.core.io.SafetensorsDType;
import io.peft4j.core.io.SafetensorsWriter;
import io.peft4j.core.io.SafetensorsWriter.StreamedTensor;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Writes a checkpoint folder with random weights and the tensor shapes of a real LLaMA-family
 * model, laid out exactly as Hugging Face's {@code save_pretrained} writes one: BF16 tensors,
 * {@code config.json} with Hugging Face's keys, and either {@code model.safetensors} or shards
 * {@code model-00001-of-0000N.safetensors} plus {@code model.safetensors.index.json} ({@code
 * metadata.total_size}, {@code weight_map}). Shards are cut as {@code huggingface_hub} cuts them
 * (state-dict order; a new shard when the next tensor would pass the limit; a tied {@code lm_head}
 * is not written).
 *
 * <p>For benchmarks and tests at real sizes without downloading weights. Writing streams tensor by
 * tensor in 64 KiB pieces (memory does not grow with the model), each shard to a temp name and
 * renamed. Values are deterministic in (seed, tensor name): weights are approximately normal with
 * standard deviation {@code initializer_range} (a sum of four uniforms, so bounded at 3.5 standard
 * deviations), norm weights 1 plus that noise, biases that noise; forward passes stay finite.
 *
 * <pre>{@code
 * RandomCheckpoint.builder(RandomCheckpoint.Architecture.QWEN2_5_0_5B)
 *         .maxShardBytes(600_000_000L)   // two shards
 *         .build()
 *         .write(Path.of("target/qwen-shape"));
 * }</pre>
 */
public final class RandomCheckpoint {

    /** Shapes of published models (their config.json values; the weights are random). */
    public enum Architecture {
        /** Qwen/Qwen2.5-0.5B: 494,032,768 parameters, q/k/v biases, GQA 14/2, tied embeddings. */
        QWEN2_5_0_5B(
                LlamaConfig.builder()
                        .modelType("qwen2")
                        .vocabSize(151_936)
                        .hiddenSize(896)
                        .intermediateSize(4864)
                        .numHiddenLayers(24)
                        .numAttentionHeads(14)
                        .numKeyValueHeads(2)
                        .maxPositionEmbeddings(32_768)
                        .rmsNormEps(1e-6)
                        .ropeTheta(1_000_000.0)
                        .qkvBias(true)
                        .tieWordEmbeddings(true)
                        .bosTokenId(151_643)
                        .eosTokenIds(List.of(151_643))
                        .build()),
        /**
         * meta-llama/Llama-3.2-1B: 1,235,814,400 parameters, GQA 32/8, tied embeddings. Its {@code
         * rope_scaling} ("llama3") is left out of config.json: the decoder implements only linear
         * scaling, and the scaling changes no shape.
         */
        LLAMA_3_2_1B(
                LlamaConfig.builder()
                        .modelType("llama")
                        .vocabSize(128_256)
                        .hiddenSize(2048)
                        .intermediateSize(8192)
                        .numHiddenLayers(16)
                        .numAttentionHeads(32)
                        .numKeyValueHeads(8)
                        .headDim(64)
                        .maxPositionEmbeddings(131_072)
                        .rmsNormEps(1e-5)
                        .ropeTheta(500_000.0)
                        .tieWordEmbeddings(true)
                        .bosTokenId(128_000)
                        .eosTokenIds(List.of(128_001))
                        .build()),
        /** HuggingFaceTB/SmolLM2-135M: 134,515,008 parameters, GQA 9/3, tied embeddings. */
        SMOLLM2_135M(
                LlamaConfig.builder()
                        .modelType("llama")
                        .vocabSize(49_152)
                        .hiddenSize(576)
                        .intermediateSize(1536)
                        .numHiddenLayers(30)
                        .numAttentionHeads(9)
                        .numKeyValueHeads(3)
                        .maxPositionEmbeddings(8192)
                        .rmsNormEps(1e-5)
                        .ropeTheta(100_000.0)
                        .tieWordEmbeddings(true)
                        .bosTokenId(0)
                        .eosTokenIds(List.of(0))
                        .build()),
        /**
         * A tiny Qwen2-like shape for tests: biases, GQA 4/2, tied, vocab 512 (~50K parameters).
         */
        TINY_QWEN2(
                LlamaConfig.builder()
                        .modelType("qwen2")
                        .vocabSize(512)
                        .hiddenSize(32)
                        .intermediateSize(64)
                        .numHiddenLayers(2)
                        .numAttentionHeads(4)
                        .numKeyValueHeads(2)
                        .maxPositionEmbeddings(256)
                        .rmsNormEps(1e-6)
                        .ropeTheta(10_000.0)
                        .qkvBias(true)
                        .tieWordEmbeddings(true)
                        .bosTokenId(1)
                        .eosTokenIds(List.of(2))
                        .build());

        // LlamaConfig is an immutable value (final fields, no setters).
        @SuppressWarnings("ImmutableEnumChecker")
        private final LlamaConfig config;

        Architecture(LlamaConfig config) {
            this.config = config;
        }

        /**
         * @return the model's configuration
         */
        public LlamaConfig config() {
            return config;
        }
    }

    /** huggingface_hub's default {@code max_shard_size}, "5GB" (decimal). */
    public static final long DEFAULT_MAX_SHARD_BYTES = 5_000_000_000L;

    private static final int PIECE = 1 << 15; // values per write

    private final LlamaConfig config;
    private final long seed;
    private final long maxShardBytes;
    private final LinkedHashMap<String, long[]> shapes;

    private RandomCheckpoint(Builder b) {
        this.config = b.config;
        this.seed = b.seed;
        this.maxShardBytes = b.maxShardBytes;
        this.shapes = stateDictShapes(config);
    }

    /**
     * @param architecture the published model whose shapes to use
     * @return a builder for a published model's shapes
     */
    public static Builder builder(Architecture architecture) {
        return new Builder(architecture.config());
    }

    /**
     * @param config the configuration whose shapes to use
     * @return a builder for any LLaMA-family configuration
     */
    public static Builder builder(LlamaConfig config) {
        return new Builder(config);
    }

    /**
     * @return the configuration written to config.json
     */
    public LlamaConfig config() {
        return config;
    }

    /**
     * @return the tensors written, by Hugging Face name, in state-dict order (a tied {@code
     *     lm_head.weight} is not among them), each with its shape
     */
    public Map<String, long[]> shapes() {
        Map<String, long[]> copy = new LinkedHashMap<>();
        shapes.forEach((k, v) -> copy.put(k, v.clone()));
        return Collections.unmodifiableMap(copy);
    }

    /**
     * @return the number of parameters, each tied weight counted once (as Hugging Face counts)
     */
    public long parameterCount() {
        long n = 0;
        for (long[] s : shapes.values()) {
            n += numel(s);
        }
        return n;
    }

    /**
     * Writes the checkpoint into {@code dir} (created if needed; files of the same names are
     * replaced, other files left alone).
     *
     * @param dir the folder
     * @return the list of weight files written, in shard order
     * @throws UncheckedIOException if writing fails
     */
    public List<Path> write(Path dir) {
        List<LinkedHashMap<String, long[]>> shards = shard();
        List<Path> files = new ArrayList<>();
        try {
            Files.createDirectories(dir);
            AtomicFiles.writeString(dir.resolve("config.json"), pretty(configJson()));
            TreeMap<String, String> weightMap = new TreeMap<>();
            long totalBytes = 0;
            for (int i = 0; i < shards.size(); i++) {
                String name =
                        shards.size() == 1
                                ? SafetensorsCheckpoint.SINGLE
                                : String.format(
                                        "model-%05d-of-%05d.safetensors", i + 1, shards.size());
                Map<String, StreamedTensor> tensors = new LinkedHashMap<>();
                for (Map.Entry<String, long[]> e : shards.get(i).entrySet()) {
                    String tensor = e.getKey();
                    long[] shape = e.getValue();
                    tensors.put(
                            tensor,
                            new StreamedTensor(
                                    SafetensorsDType.BF16,
                                    shape,
                                    out -> writeValues(out, tensor, numel(shape))));
                    weightMap.put(tensor, name);
                    totalBytes += 2 * numel(shape);
                }
                Path file = dir.resolve(name);
                SafetensorsWriter.writeStreamed(file, tensors, Map.of("format", "pt"));
                files.add(file);
            }
            if (shards.size() > 1) {
                JsonObject index = new JsonObject();
                JsonObject metadata = new JsonObject();
                metadata.addProperty("total_size", totalBytes);
                index.add("metadata", metadata);
                JsonObject map = new JsonObject();
                weightMap.forEach(map::addProperty);
                index.add("weight_map", map);
                AtomicFiles.writeString(dir.resolve(SafetensorsCheckpoint.INDEX), pretty(index));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write the random checkpoint to " + dir, e);
        }
        return files;
    }

    /** config.json as transformers writes it for this model type (BF16, its usual keys). */
    JsonObject configJson() {
        JsonObject o = config.toJson();
        o.addProperty("torch_dtype", "bfloat16");
        o.addProperty("attention_dropout", 0.0);
        o.addProperty("use_cache", true);
        o.addProperty("transformers_version", "4.46.0");
        if (config.modelType().equals("qwen2")) {
            o.addProperty("use_sliding_window", false);
            o.addProperty("sliding_window", config.maxPositionEmbeddings());
            o.addProperty("max_window_layers", config.numHiddenLayers());
        } else if (config.modelType().equals("llama")) {
            o.addProperty("pretraining_tp", 1);
        }
        return o;
    }

    /** huggingface_hub's split_torch_state_dict_into_shards, on sizes. */
    // LinkedHashMap in the type: insertion order (module order) is what the shards promise.
    @SuppressWarnings("NonApiType")
    private List<LinkedHashMap<String, long[]>> shard() {
        List<LinkedHashMap<String, long[]>> shards = new ArrayList<>();
        LinkedHashMap<String, long[]> current = new LinkedHashMap<>();
        long currentBytes = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            long bytes = 2 * numel(e.getValue());
            if (bytes > maxShardBytes) {
                shards.add(new LinkedHashMap<>(Map.of(e.getKey(), e.getValue())));
                continue;
            }
            if (currentBytes + bytes > maxShardBytes && !current.isEmpty()) {
                shards.add(current);
                current = new LinkedHashMap<>();
                currentBytes = 0;
            }
            current.put(e.getKey(), e.getValue());
            currentBytes += bytes;
        }
        if (!current.isEmpty()) {
            shards.add(current);
        }
        return shards;
    }

    /** Streams {@code count} BF16 values of tensor {@code name} in pieces. */
    private void writeValues(OutputStream out, String name, long count) throws IOException {
        SplittableRandom random =
                new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ name.hashCode());
        // a RMSNorm weight (1-D, named *norm*) scales activations: around 1, as after training
        boolean norm = name.endsWith("norm.weight");
        float std = (float) config.initializerRange();
        float offset = norm ? 1f : 0f;
        // Irwin-Hall: the sum of four U(0,1) has mean 2, variance 1/3
        float scale = std * (float) Math.sqrt(3.0) / 65536f;
        byte[] buffer = new byte[2 * PIECE];
        for (long done = 0; done < count; done += PIECE) {
            int n = (int) Math.min(PIECE, count - done);
            for (int i = 0; i < n; i++) {
                long r = random.nextLong();
                long sum =
                        (r & 0xFFFF) + ((r >>> 16) & 0xFFFF) + ((r >>> 32) & 0xFFFF) + (r >>> 48);
                float value = offset + (sum - 2 * 65535.5f) * scale;
                short bf16 = toBf16(value);
                buffer[2 * i] = (byte) bf16;
                buffer[2 * i + 1] = (byte) (bf16 >>> 8);
            }
            out.write(buffer, 0, 2 * n);
        }
    }

    /** Float to BF16, rounding to nearest even (as PyTorch's {@code .to(torch.bfloat16)}). */
    static short toBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) 0x7FC0;
        }
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** The tensors of a LLaMA-family state dict in module order, as torch lists them. */
    @SuppressWarnings("NonApiType") // insertion order is the contract
    static LinkedHashMap<String, long[]> stateDictShapes(LlamaConfig c) {
        long h = c.hiddenSize();
        long q = (long) c.numAttentionHeads() * c.headDim();
        long kv = (long) c.numKeyValueHeads() * c.headDim();
        long inter = c.intermediateSize();
        LinkedHashMap<String, long[]> s = new LinkedHashMap<>();
        s.put("model.embed_tokens.weight", new long[] {c.vocabSize(), h});
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "model.layers." + i + ".";
            linear(s, p + "self_attn.q_proj", q, h, c.qkvBias());
            linear(s, p + "self_attn.k_proj", kv, h, c.qkvBias());
            linear(s, p + "self_attn.v_proj", kv, h, c.qkvBias());
            linear(s, p + "self_attn.o_proj", h, q, c.outputBias());
            linear(s, p + "mlp.gate_proj", inter, h, c.mlpBias());
            linear(s, p + "mlp.up_proj", inter, h, c.mlpBias());
            linear(s, p + "mlp.down_proj", h, inter, c.mlpBias());
            s.put(p + "input_layernorm.weight", new long[] {h});
            s.put(p + "post_attention_layernorm.weight", new long[] {h});
        }
        s.put("model.norm.weight", new long[] {h});
        if (!c.tieWordEmbeddings()) {
            s.put("lm_head.weight", new long[] {c.vocabSize(), h});
        }
        return s;
    }

    private static void linear(
            Map<String, long[]> s, String path, long out, long in, boolean bias) {
        s.put(path + ".weight", new long[] {out, in});
        if (bias) {
            s.put(path + ".bias", new long[] {out});
        }
    }

    private static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    private static String pretty(JsonObject o) {
        return new GsonBuilder().setPrettyPrinting().create().toJson(o) + "\n";
    }

    /** Settings of a {@link RandomCheckpoint}. */
    public static final class Builder {
        private LlamaConfig config;
        private long seed = 42;
        private long maxShardBytes = DEFAULT_MAX_SHARD_BYTES;

        private Builder(LlamaConfig config) {
            this.config = Objects.requireNonNull(config, "config");
        }

        /**
         * @param v the model configuration (replaces the preset's)
         * @return this builder
         */
        public Builder config(LlamaConfig v) {
            config = Objects.requireNonNull(v, "config");
            return this;
        }

        /**
         * @param v the seed; the values depend only on it and the tensor names
         * @return this builder
         */
        public Builder seed(long v) {
            seed = v;
            return this;
        }

        /**
         * @param v the largest shard in bytes (Hugging Face's {@code max_shard_size}); a tensor
         *     larger than that gets a shard of its own; one shard is written as model.safetensors
         * @return this builder
         */
        public Builder maxShardBytes(long v) {
            if (v <= 0) {
                throw new IllegalArgumentException("maxShardBytes must be > 0, got " + v);
            }
            maxShardBytes = v;
            return this;
        }

        /**
         * @return the generator
         */
        public RandomCheckpoint build() {
            return new RandomCheckpoint(this);
        }
    }
}
