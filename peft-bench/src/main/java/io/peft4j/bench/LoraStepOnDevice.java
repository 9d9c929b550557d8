package io.peft4j.bench;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.util.cuda.CudaUtils;
import io.peft4j.models.BertConfig;
import io.peft4j.models.BertModel;
import io.peft4j.models.LlamaConfig;
import io.peft4j.models.LlamaForCausalLM;
import io.peft4j.models.RandomCheckpoint.Architecture;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * peft4j's half of the side-by-side LoRA step against Hugging Face peft + transformers on one
 * device ({@code gpu/hf_peft_step.py} is the other half; {@code gpu/run-on-device.sh} runs both).
 * One LoRA train step (r=8, alpha 16, dropout 0, on the attention's query and value projections;
 * forward in training mode, loss = mean square of the model's output, backward, AdamW lr 1e-5,
 * zeroed gradients) on a model with random weights of a real model's shape, float32:
 *
 * <ul>
 *   <li>{@code minilm}: all-MiniLM-L6-v2's encoder (BERT, 6 x 384, vocab 30522), batch 16 x 128,
 *       output = last hidden state;
 *   <li>{@code qwen2.5-0.5b}: Qwen2.5-0.5B's decoder (24 x 896, 14 heads / 2 KV heads, MLP 4864,
 *       vocab 151936, tied embeddings, q/k/v bias), batch 4 x 512, output = logits.
 * </ul>
 *
 * Prints one JSON line on stdout: the median step time over the timed steps (after warm-up steps),
 * and on a GPU the device memory in use (cudaMemGetInfo: total - free) at its peak over the steps
 * minus before the model was built, which counts what the process's caching allocator holds, as the
 * Python side measures it. A step ends with reading the loss on the host, so its time includes
 * every kernel it queued. Usage: {@code LoraStepOnDevice <minilm|qwen2.5-0.5b> [steps=20] [--device
 * cpu|gpu] [--tiny]}; {@code --tiny} shrinks the model and batch (a CPU smoke run).
 */
public final class LoraStepOnDevice {

    static final int WARMUP_STEPS = 3;
    static final float LEARNING_RATE = 1e-5f;
    static final long SEED = 7;

    private LoraStepOnDevice() {}

    public static void main(String[] args) {
        // first thing: MKL's fast path on AMD CPUs (the library never installs it)
        io.peft4j.core.engine.MklCpuDispatch.install();
        List<String> rest = new ArrayList<>(List.of(args));
        boolean tiny = rest.remove("--tiny");
        Device device = Device.cpu();
        int at = rest.indexOf("--device");
        if (at >= 0) {
            if (at + 1 >= rest.size()) {
                usage("--device needs a value (cpu or gpu)");
            }
            device = Device.fromName(rest.get(at + 1));
            rest.remove(at + 1);
            rest.remove(at);
        }
        if (rest.isEmpty() || rest.size() > 2) {
            usage("expected a model name and an optional step count, got " + rest);
        }
        String model = rest.get(0);
        int steps = rest.size() > 1 ? Integer.parseInt(rest.get(1)) : 20;
        if (!model.equals("minilm") && !model.equals("qwen2.5-0.5b")) {
            usage("unknown model '" + model + "' (minilm or qwen2.5-0.5b)");
        }
        if (steps < 1) {
            usage("steps must be >= 1, got " + steps);
        }
        if (device.isGpu() && Engine.getEngine("PyTorch").getGpuCount() <= device.getDeviceId()) {
            System.err.println(
                    "LoraStepOnDevice: "
                            + device
                            + " asked for but the PyTorch engine sees "
                            + Engine.getEngine("PyTorch").getGpuCount()
                            + " GPU(s)");
            System.exit(3);
        }
        System.out.println(run(model, steps, device, tiny));
    }

    private static void usage(String why) {
        System.err.println(
                "LoraStepOnDevice: "
                        + why
                        + "\nusage: LoraStepOnDevice <minilm|qwen2.5-0.5b> [steps=20] [--device cpu|gpu] [--tiny]");
        System.exit(2);
    }

    /** The batch x seq of {@code model}. */
    static int[] shape(String model, boolean tiny) {
        if (tiny) {
            return new int[] {2, 16};
        }
        return model.equals("minilm") ? new int[] {16, 128} : new int[] {4, 512};
    }

    static BertConfig minilm(boolean tiny) {
        if (tiny) {
            return BertConfig.builder()
                    .vocabSize(1200)
                    .hiddenSize(32)
                    .numHiddenLayers(2)
                    .numAttentionHeads(4)
                    .intermediateSize(64)
                    .maxPositionEmbeddings(64)
                    .addPoolingLayer(false)
                    .build();
        }
        return Bench.minilmConfig();
    }

    /** Qwen2.5-0.5B's config.json, as Hugging Face publishes it, or a toy of its family. */
    static LlamaConfig qwen(boolean tiny) {
        if (!tiny) {
            return Architecture.QWEN2_5_0_5B.config();
        }
        return LlamaConfig.builder()
                .modelType("qwen2")
                .rmsNormEps(1e-6)
                .ropeTheta(1_000_000)
                .qkvBias(true)
                .tieWordEmbeddings(true)
                .vocabSize(1200)
                .hiddenSize(64)
                .intermediateSize(128)
                .numHiddenLayers(2)
                .numAttentionHeads(4)
                .numKeyValueHeads(2)
                .maxPositionEmbeddings(128)
                .build();
    }

    static String run(String modelName, int steps, Device device, boolean tiny) {
        Bench.gradOff();
        Engine engine = Engine.getEngine("PyTorch");
        engine.setRandomSeed((int) SEED);
        int[] bs = shape(modelName, tiny);
        int batch = bs[0];
        int seq = bs[1];
        boolean bert = modelName.equals("minilm");
        try (NDManager manager = NDManager.newBaseManager(device)) {
            manager.zeros(new Shape(1)).close(); // creates the CUDA context before the baseline
            long before = gpuUsed(device);
            long peak = before;
            int vocab = bert ? minilm(tiny).vocabSize() : qwen(tiny).vocabSize();
            long[] ids = Bench.randomIds(batch, seq, Math.min(1000, vocab / 2), vocab, SEED);
            Function<NDManager, NDList> inputs =
                    bert
                            ? scope -> Bench.bertInputs(scope, ids, batch, seq)
                            : scope -> new NDList(scope.create(ids, new Shape(batch, seq)));
            double[] times = new double[steps];
            long trainable;
            try (Trainee t = trainee(bert, tiny, device, batch, seq)) {
                trainable = t.trainableCount();
                for (int i = 0; i < WARMUP_STEPS; i++) {
                    t.step(manager, inputs, LEARNING_RATE);
                    peak = Math.max(peak, gpuUsed(device));
                }
                for (int i = 0; i < steps; i++) {
                    times[i] = t.step(manager, inputs, LEARNING_RATE);
                    peak = Math.max(peak, gpuUsed(device));
                }
            }
            return String.format(
                    Locale.ROOT,
                    "{\"side\":\"peft4j\",\"model\":\"%s\",\"device\":\"%s\",\"dtype\":\"float32\","
                            + "\"batch\":%d,\"seq\":%d,\"trainable\":%d,\"steps\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f,"
                            + "\"gpu_mem_used_peak_minus_baseline_mib\":%s,\"engine\":\"libtorch %s via DJL %s\"}",
                    modelName + (tiny ? "-tiny" : ""),
                    device,
                    batch,
                    seq,
                    trainable,
                    steps,
                    Bench.median(times) * 1e3,
                    min(times) * 1e3,
                    device.isGpu()
                            ? String.format(Locale.ROOT, "%.1f", (peak - before) / 1048576.0)
                            : "null",
                    engine.getVersion(),
                    Engine.getDjlVersion());
        }
    }

    private static Trainee trainee(boolean bert, boolean tiny, Device device, int batch, int seq) {
        Model model = Model.newInstance(bert ? "minilm-random" : "qwen2.5-0.5b-random", device);
        if (bert) {
            BertModel block = new BertModel(minilm(tiny));
            block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(batch, seq));
            model.setBlock(block);
            return Trainee.adapted(
                    "LoRA r=8 query/value", model, BenchMethods.lora("query", "value"));
        }
        LlamaForCausalLM block = new LlamaForCausalLM(qwen(tiny));
        block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(batch, seq));
        model.setBlock(block);
        return Trainee.adapted(
                "LoRA r=8 q_proj/v_proj", model, BenchMethods.lora("q_proj", "v_proj"));
    }

    /** Device memory in use (total - free) in bytes on a GPU; 0 on the CPU. */
    static long gpuUsed(Device device) {
        return device.isGpu() ? CudaUtils.getGpuMemory(device).getUsed() : 0;
    }

    private static double min(double[] v) {
        double m = Double.MAX_VALUE;
        for (double x : v) {
            m = Math.min(m, x);
        }
        return m;
    }
}
