package io.peft4j.masa.experiments;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.TrainableModel;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import io.peft4j.masa.MasaConfig;
import io.peft4j.masa.SharedAtomModel;
import io.peft4j.models.LlamaConfig;
import io.peft4j.models.LlamaForCausalLM;
import io.peft4j.models.TextTokenizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * MASA's main setting in miniature: two twins pretrained from scratch on the same tokens, a vanilla
 * LLaMA and the same model whose Q, K, V, O are {@code sum_s c_ls D_s} (S = L/3) from
 * initialisation. 12 layers, width 128, 4 heads, untied embeddings, stories260K's tokenizer (vocab
 * 512); tinyshakespeare, first 90% for training, held-out perplexity on the last 10%. Same initial
 * weights outside attention, same batches, same steps, AdamW, warm-up 10% then linear decay, clip
 * 1.0. One libtorch thread.
 *
 * <pre>
 * cd peft-masa && java -Xmx4g -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 \
 *     -cp target/test-classes:target/classes:$(cat target/cp.txt) io.peft4j.masa.experiments.MasaPretraining [steps] [lr] [seq] [batch]
 * </pre>
 */
public final class MasaPretraining {

    private MasaPretraining() {}

    public static void main(String[] args) throws Exception {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 300;
        double lr = args.length > 1 ? Double.parseDouble(args[1]) : 3e-3;
        int seq = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        int batch = args.length > 3 ? Integer.parseInt(args[3]) : 8;
        int layers = 12;
        int width = 128;
        Path shared = Path.of(System.getenv().getOrDefault("PEFT4J_SHARED", "../shared"));
        if (!Files.isDirectory(shared.resolve("models"))) {
            shared = Path.of("../../shared");
        }
        String text =
                Files.readString(
                        shared.resolve("data/tinyshakespeare/input.txt"), StandardCharsets.UTF_8);
        int cut = (int) (text.length() * 0.9);
        long[] train;
        long[] heldOut;
        try (TextTokenizer tok =
                TextTokenizer.builder(shared.resolve("models/stories260K")).build()) {
            train = tok.encode(text.substring(0, cut));
            heldOut = tok.encode(text.substring(cut));
        }
        LlamaConfig config =
                LlamaConfig.builder()
                        .vocabSize(512)
                        .hiddenSize(width)
                        .intermediateSize(344)
                        .numHiddenLayers(layers)
                        .numAttentionHeads(4)
                        .numKeyValueHeads(4)
                        .maxPositionEmbeddings(2 * seq)
                        .tieWordEmbeddings(false)
                        .build();
        System.out.printf(
                Locale.ROOT,
                "== MASA from scratch vs vanilla: LLaMA %d layers, width %d, 4 heads; tinyshakespeare %d train tokens,"
                        + " %d held-out; %d steps x batch %d x %d tokens (%d tokens), lr %.0e ==%n",
                layers,
                width,
                train.length,
                heldOut.length,
                steps,
                batch,
                seq,
                (long) steps * batch * seq,
                lr);
        System.out.println(
                "| model | attention parameters | all parameters | held-out NLL | held-out perplexity | train loss by quarter | s/step |");
        System.out.println("|---|---:|---:|---:|---:|---|---:|");
        for (boolean masa : new boolean[] {false, true}) {
            try (NDManager m = NDManager.newBaseManager()) {
                Engine.getInstance().setRandomSeed(42); // the same initial weights for both twins
                LlamaForCausalLM lm = new LlamaForCausalLM(config);
                lm.initialize(m, DataType.FLOAT32, new Shape(1, seq));
                SharedAtomModel atoms =
                        masa
                                ? SharedAtomModel.build(
                                        lm, MasaConfig.builder().atoms(layers / 3).build(), m, 42)
                                : null;
                TrainableModel trainable = masa ? atoms : vanilla(lm);
                long all =
                        trainable.trainableParameters().values().stream()
                                .mapToLong(p -> p.getArray().size())
                                .sum();
                long attention = masa ? atoms.attentionParameters() : 4L * layers * width * width;
                TrainingData data = windows(train, seq);
                long t0 = System.nanoTime();
                TrainingResult r =
                        FineTuner.builder()
                                .learningRate(lr)
                                .warmupSteps(steps / 10)
                                .maxSteps(steps)
                                .batchSize(batch)
                                .seed(7)
                                .progress(false)
                                .build()
                                .fit(trainable, (b, t) -> loss(lm, b.get(0), b.get(1), t), data);
                double seconds = (System.nanoTime() - t0) / 1e9;
                double nll = nll(lm, heldOut, seq);
                System.out.printf(
                        Locale.ROOT,
                        "| %s | %,d | %,d | %.4f | %.2f | %s | %.2f |%n",
                        masa ? "MASA S=" + layers / 3 + " (Q,K,V,O from shared atoms)" : "vanilla",
                        attention,
                        all,
                        nll,
                        Math.exp(nll),
                        quarters(r),
                        seconds / steps);
                if (atoms != null) {
                    Path file = Files.createTempFile("masa-pretrained", ".safetensors");
                    atoms.save(file);
                    System.out.printf(
                            Locale.ROOT, "  saved %s (%,d bytes)%n", file, Files.size(file));
                    atoms.close();
                }
            }
        }
    }

    private static TrainableModel vanilla(LlamaForCausalLM lm) {
        Map<String, Parameter> params = new LinkedHashMap<>(lm.namedParameters());
        params.values().forEach(p -> p.freeze(false));
        return () -> params;
    }

    private static String quarters(TrainingResult r) {
        StringBuilder sb = new StringBuilder();
        int n = r.losses().size();
        for (int q = 0; q < 4; q++) {
            double sum = 0;
            int from = q * n / 4;
            int to = (q + 1) * n / 4;
            for (int i = from; i < to; i++) {
                sum += r.losses().get(i);
            }
            sb.append(
                    String.format(
                            Locale.ROOT,
                            "%s%.2f",
                            q == 0 ? "" : " ",
                            sum / Math.max(1, to - from)));
        }
        return sb.toString();
    }

    private static TrainingData windows(long[] tokens, int seq) {
        int n = (tokens.length - 1) / seq;
        return new TrainingData() {
            @Override
            public int size() {
                return n;
            }

            @Override
            public NDList batch(NDManager manager, int[] indices) {
                long[][] x = new long[indices.length][seq];
                long[][] y = new long[indices.length][seq];
                for (int i = 0; i < indices.length; i++) {
                    System.arraycopy(tokens, indices[i] * seq, x[i], 0, seq);
                    System.arraycopy(tokens, indices[i] * seq + 1, y[i], 0, seq);
                }
                return new NDList(manager.create(x), manager.create(y));
            }
        };
    }

    private static NDArray loss(LlamaForCausalLM lm, NDArray x, NDArray y, boolean training) {
        NDArray logits =
                lm.forward(new ParameterStore(x.getManager(), false), new NDList(x), training)
                        .head();
        return logits.logSoftmax(-1).gather(y.expandDims(-1), -1).neg().mean();
    }

    private static double nll(LlamaForCausalLM lm, long[] tokens, int seq) {
        int windows = Math.min(200, (tokens.length - 1) / seq);
        double sum = 0;
        try (NoGrad off = NoGrad.enter();
                NDManager m = NDManager.newBaseManager()) {
            for (int w = 0; w < windows; w += 20) {
                int n = Math.min(20, windows - w);
                long[][] x = new long[n][seq];
                long[][] y = new long[n][seq];
                for (int i = 0; i < n; i++) {
                    System.arraycopy(tokens, (w + i) * seq, x[i], 0, seq);
                    System.arraycopy(tokens, (w + i) * seq + 1, y[i], 0, seq);
                }
                try (NDManager s = m.newSubManager()) {
                    sum += loss(lm, s.create(x), s.create(y), false).getFloat() * n;
                }
            }
        }
        return sum / windows;
    }
}
