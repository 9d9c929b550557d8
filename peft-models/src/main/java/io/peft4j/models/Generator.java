package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.ParameterStore;
import com.google.common.base.Preconditions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Text generation with a {@link LlamaForCausalLM} and a {@link KvCache}: the prompts run once, then
 * one token per step. Prompts of different lengths are left-padded. Token choice happens on the JVM
 * (greedy argmax, or seeded sampling with temperature, top-k, top-p), so a seed gives the same
 * tokens on every device.
 */
public final class Generator {

    private Generator() {}

    /**
     * Continues each prompt.
     *
     * @param model the language model
     * @param prompts token ids of each prompt (at least one token each)
     * @param config decoding settings
     * @param manager where the step arrays live (on the model's device); nothing is left in it
     * @return per prompt, the new tokens: up to {@code maxNewTokens}, ending with the EOS token
     *     when one was produced
     */
    public static List<long[]> generate(
            LlamaForCausalLM model,
            List<long[]> prompts,
            GenerationConfig config,
            NDManager manager) {
        Preconditions.checkArgument(!prompts.isEmpty(), "no prompts");
        int batch = prompts.size();
        int width = prompts.stream().mapToInt(p -> p.length).max().getAsInt();
        long[][] ids = new long[batch][width];
        long[][] mask = new long[batch][width];
        for (int b = 0; b < batch; b++) {
            long[] p = prompts.get(b);
            Preconditions.checkArgument(p.length > 0, "prompt %s is empty", b);
            int pad = width - p.length;
            Arrays.fill(ids[b], 0, pad, config.padTokenId());
            System.arraycopy(p, 0, ids[b], pad, p.length);
            Arrays.fill(mask[b], pad, width, 1L);
        }
        Random random = new Random(config.seed());
        List<List<Long>> out = new ArrayList<>();
        for (int b = 0; b < batch; b++) {
            out.add(new ArrayList<>());
        }
        boolean[] finished = new boolean[batch];
        int vocab = model.config().vocabSize();
        try (KvCache cache = KvCache.create(manager, model.numLayers())) {
            ParameterStore ps = new ParameterStore(manager, false);
            Choice last;
            try (NDManager step = manager.newSubManager()) {
                NDArray logits =
                        model.forwardCachedLast(
                                ps, step.create(ids), step.create(mask), cache, null);
                last = Choice.of(logits, config);
            }
            for (int t = 0; t < config.maxNewTokens(); t++) {
                long[][] next = new long[batch][1];
                for (int b = 0; b < batch; b++) {
                    if (finished[b]) {
                        next[b][0] = config.padTokenId();
                        continue;
                    }
                    int token = last.token(b, vocab, config, random);
                    out.get(b).add((long) token);
                    next[b][0] = token;
                    finished[b] = config.eosTokenIds().contains(token);
                }
                boolean allDone = true;
                for (boolean f : finished) {
                    allDone &= f;
                }
                if (allDone || t == config.maxNewTokens() - 1) {
                    break;
                }
                try (NDManager step = manager.newSubManager()) {
                    NDArray logits =
                            model.forwardCachedLast(ps, step.create(next), null, cache, null);
                    last = Choice.of(logits, config);
                }
            }
        }
        List<long[]> result = new ArrayList<>();
        for (List<Long> tokens : out) {
            result.add(tokens.stream().mapToLong(Long::longValue).toArray());
        }
        return result;
    }

    /**
     * What a step hands to the JVM to pick the next tokens. Greedy decoding takes the argmax in the
     * engine, so only one id per sequence crosses into Java: copying the vocabulary-wide logits out
     * on every token (600 KB a row at a 151,936 vocabulary, and as much again for the row's copy)
     * was about 1.2 MB of heap garbage per token, which the JVM answered by growing its heap: the
     * process's RSS rose by 0.2 GB over 128 tokens while the engine's arrays stayed flat. Sampling
     * needs the whole distribution and still copies the logits out.
     */
    private static final class Choice {
        private final long[] greedy;
        private final float[] logits;

        private Choice(long[] greedy, float[] logits) {
            this.greedy = greedy;
            this.logits = logits;
        }

        /** From (B, T, V) logits: the last position's argmax per row, or its logits (B * V). */
        static Choice of(NDArray logits, GenerationConfig config) {
            long len = logits.getShape().get(1);
            NDArray last = logits.get(":, " + (len - 1) + ", :");
            if (!config.sample()) {
                return new Choice(
                        last.argMax(-1).toType(DataType.INT64, false).toLongArray(), null);
            }
            return new Choice(null, last.toType(DataType.FLOAT32, false).toFloatArray());
        }

        int token(int row, int vocab, GenerationConfig config, Random random) {
            if (greedy != null) {
                return (int) greedy[row];
            }
            return sample(
                    Arrays.copyOfRange(logits, row * vocab, (row + 1) * vocab), config, random);
        }
    }

    static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * The sampling distribution: softmax(logits / temperature), restricted to the top-k tokens and
     * then to the smallest most-likely set reaching top-p, renormalised.
     */
    static double[] distribution(float[] logits, GenerationConfig config) {
        int n = logits.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
        int keep = config.topK() > 0 ? Math.min(config.topK(), n) : n;
        double max = logits[order[0]] / config.temperature();
        double[] probs = new double[n];
        double total = 0;
        for (int r = 0; r < keep; r++) {
            int i = order[r];
            probs[i] = Math.exp(logits[i] / config.temperature() - max);
            total += probs[i];
        }
        double cumulative = 0;
        int kept = 0;
        for (int r = 0; r < keep; r++) {
            int i = order[r];
            if (cumulative >= config.topP() * total && kept > 0) {
                probs[i] = 0;
            } else {
                cumulative += probs[i];
                kept++;
            }
        }
        for (int i = 0; i < n; i++) {
            probs[i] /= cumulative;
        }
        return probs;
    }

    static int sample(float[] logits, GenerationConfig config, Random random) {
        double[] probs = distribution(logits, config);
        double u = random.nextDouble();
        double acc = 0;
        int lastNonZero = 0;
        for (int i = 0; i < probs.length; i++) {
            if (probs[i] > 0) {
                acc += probs[i];
                lastNonZero = i;
                if (u < acc) {
                    return i;
                }
            }
        }
        return lastNonZero;
    }
}
