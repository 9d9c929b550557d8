package io.peft4j.tasks;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.train.LossFunction;
import io.peft4j.core.train.TrainingData;
import io.peft4j.models.LlamaForCausalLM;
import io.peft4j.models.TextTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Next-token prediction with a {@code LlamaForCausalLM}-style block (input {@code [input_ids,
 * attention_mask]}, output {@code [logits (B, T, V)]}).
 *
 * <p>Plain text ({@link TextExample#isPlain()}) is tokenized document by document (with the
 * tokenizer's special tokens, e.g. BOS), concatenated and cut into blocks of {@code blockSize}
 * tokens; every token after the first of a block is scored. Prompt/completion examples become one
 * sequence each: prompt, completion, then the EOS token, truncated to {@code blockSize}, and only
 * the completion and EOS are scored. Sequences shorter than the longest of a batch are padded on
 * the right (masked, not scored).
 *
 * <p>A batch is {@code [input_ids (int64), attention_mask (int64), scored (float32)]}; the loss is
 * the mean negative log-likelihood over the scored tokens of the batch. {@link #evaluate} gives the
 * token-level mean over the whole set (held-out NLL, perplexity = exp(NLL)).
 */
public final class CausalLmTask implements TrainingData, LossFunction {

    /**
     * Held-out scores.
     *
     * @param nll mean negative log-likelihood per scored token (nats)
     * @param tokens the number of scored tokens
     */
    public record Metrics(double nll, long tokens) {
        /**
         * @return exp(nll)
         */
        public double perplexity() {
            return Math.exp(nll);
        }
    }

    /** Most tokens one evaluation forward pass takes (see {@link #evaluate}). */
    static final int EVAL_TOKENS_PER_FORWARD = 1024;

    private final Block model;
    private final long padTokenId;
    private final List<long[]> sequences = new ArrayList<>();
    private final List<boolean[]> scored = new ArrayList<>();
    private final int blockSize;
    private final int lossChunkTokens;
    private long scoredTokens;

    /**
     * Tokenizes the examples.
     *
     * @param model the language model
     * @param tokenizer a tokenizer with the model's special tokens (BOS) on and no max length
     * @param examples the examples, at least one
     * @param blockSize tokens per sequence, at least 2
     * @param eosTokenId appended to completions (negative: none)
     * @throws IllegalArgumentException if no sequence has a token to score
     */
    public CausalLmTask(
            Block model,
            TextTokenizer tokenizer,
            List<TextExample> examples,
            int blockSize,
            long eosTokenId) {
        this(model, blockSize, tokenizer.padTokenId());
        List<String> plain = new ArrayList<>();
        for (TextExample ex : examples) {
            if (ex.isPlain()) {
                plain.add(ex.completion());
            } else {
                addPromptCompletion(tokenizer, ex, eosTokenId);
            }
        }
        if (!plain.isEmpty()) {
            pack(tokenizer, plain);
        }
        if (sequences.isEmpty()) {
            throw new IllegalArgumentException(
                    "no sequence with a token to score (the text is shorter"
                            + " than 2 tokens, or every completion was truncated away at block size "
                            + blockSize
                            + ")");
        }
    }

    private CausalLmTask(Block model, int blockSize, long padTokenId) {
        this.model = Objects.requireNonNull(model, "model");
        if (blockSize < 2) {
            throw new IllegalArgumentException("blockSize must be >= 2, got " + blockSize);
        }
        this.blockSize = blockSize;
        this.padTokenId = padTokenId;
        this.lossChunkTokens =
                model instanceof LlamaForCausalLM
                        ? NextTokenLoss.defaultChunkTokens(
                                ((LlamaForCausalLM) model).config().vocabSize())
                        : NextTokenLoss.defaultChunkTokens(32_000);
    }

    /**
     * A task over sequences that are already token ids (a pre-tokenized data set): every token
     * after the first of a sequence is scored.
     *
     * @param model the language model
     * @param sequences token ids, each at least 2 and at most {@code blockSize} long
     * @param blockSize the longest sequence allowed, at least 2
     * @param padTokenId the id that pads shorter sequences of a batch (masked, not scored)
     * @return the task
     * @throws IllegalArgumentException if the list is empty or a sequence is too short or too long
     */
    public static CausalLmTask ofTokenIds(
            Block model, List<long[]> sequences, int blockSize, long padTokenId) {
        CausalLmTask task = new CausalLmTask(model, blockSize, padTokenId);
        if (sequences.isEmpty()) {
            throw new IllegalArgumentException("no sequences");
        }
        for (int i = 0; i < sequences.size(); i++) {
            long[] ids = sequences.get(i);
            if (ids.length < 2 || ids.length > blockSize) {
                throw new IllegalArgumentException(
                        "sequence "
                                + i
                                + " has "
                                + ids.length
                                + " tokens; expected 2 to "
                                + blockSize);
            }
            boolean[] score = new boolean[ids.length];
            Arrays.fill(score, 1, ids.length, true);
            task.add(ids.clone(), score);
        }
        return task;
    }

    private void pack(TextTokenizer tokenizer, List<String> documents) {
        long total = 0;
        List<long[]> encoded = new ArrayList<>(documents.size());
        for (String doc : documents) {
            long[] ids = tokenizer.encode(doc);
            encoded.add(ids);
            total += ids.length;
        }
        long[] stream = new long[Math.toIntExact(total)];
        int at = 0;
        for (long[] ids : encoded) {
            System.arraycopy(ids, 0, stream, at, ids.length);
            at += ids.length;
        }
        for (int start = 0; start + 1 < stream.length; start += blockSize) {
            long[] block =
                    Arrays.copyOfRange(stream, start, Math.min(stream.length, start + blockSize));
            if (block.length < 2) {
                break;
            }
            boolean[] score = new boolean[block.length];
            Arrays.fill(score, 1, block.length, true);
            add(block, score);
        }
    }

    private void addPromptCompletion(TextTokenizer tokenizer, TextExample ex, long eosTokenId) {
        long[] prompt = tokenizer.encode(ex.prompt());
        long[] full = tokenizer.encode(ex.prompt() + ex.completion());
        int common = 0;
        while (common < prompt.length && common < full.length && prompt[common] == full[common]) {
            common++;
        }
        long[] ids = eosTokenId >= 0 ? Arrays.copyOf(full, full.length + 1) : full;
        if (eosTokenId >= 0) {
            ids[full.length] = eosTokenId;
        }
        if (ids.length > blockSize) {
            ids = Arrays.copyOf(ids, blockSize);
        }
        boolean[] score = new boolean[ids.length];
        boolean any = false;
        for (int t = Math.max(1, common); t < ids.length; t++) {
            score[t] = true;
            any = true;
        }
        if (any) {
            add(ids, score);
        }
    }

    private void add(long[] ids, boolean[] score) {
        sequences.add(ids);
        scored.add(score);
        for (int t = 1; t < score.length; t++) {
            scoredTokens += score[t] ? 1 : 0;
        }
    }

    /**
     * @return the number of scored tokens in the set
     */
    public long scoredTokens() {
        return scoredTokens;
    }

    /**
     * @return the block size
     */
    public int blockSize() {
        return blockSize;
    }

    /**
     * Returns the token ids of one sequence.
     *
     * @param index in {@code [0, size())}
     * @return a copy of its ids
     */
    public long[] sequence(int index) {
        return sequences.get(index).clone();
    }

    @Override
    public int size() {
        return sequences.size();
    }

    @Override
    public NDList batch(NDManager manager, int[] indices) {
        int width = 0;
        for (int i : indices) {
            width = Math.max(width, sequences.get(i).length);
        }
        long[][] ids = new long[indices.length][width];
        long[][] mask = new long[indices.length][width];
        float[][] score = new float[indices.length][width];
        for (int b = 0; b < indices.length; b++) {
            long[] row = sequences.get(indices[b]);
            boolean[] s = scored.get(indices[b]);
            Arrays.fill(ids[b], padTokenId);
            System.arraycopy(row, 0, ids[b], 0, row.length);
            Arrays.fill(mask[b], 0, row.length, 1L);
            for (int t = 0; t < row.length; t++) {
                score[b][t] = s[t] ? 1f : 0f;
            }
        }
        return new NDList(manager.create(ids), manager.create(mask), manager.create(score));
    }

    @Override
    public NDArray loss(NDList batch, boolean training) {
        NDArray[] sums = nllSums(batch, training);
        return sums[0].div(sums[1].maximum(1f));
    }

    /** [sum of NLL over scored tokens, number of scored tokens], both scalars. */
    private NDArray[] nllSums(NDList batch, boolean training) {
        NDManager manager = batch.head().getManager();
        return NextTokenLoss.sums(
                model,
                new ParameterStore(manager, false),
                batch.get(0),
                batch.get(1),
                batch.get(2),
                training,
                lossChunkTokens);
    }

    /**
     * The token-level mean NLL over the whole set, without gradients.
     *
     * @param batchSize sequences per forward pass at most (fewer when they would exceed 1024
     *     tokens; the result does not depend on it)
     * @return the metrics
     */
    public Metrics evaluate(int batchSize) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
        }
        Device device = ClassificationTask.modelDevice(model);
        double nllSum = 0;
        long tokens = 0;
        // Sums over sequences, so the forward batch may be smaller than batchSize: at most
        // EVAL_TOKENS_PER_FORWARD tokens, which keeps a forward's activations (a layer's MLP
        // intermediates are tokens x 4864 floats at 0.5B) small next to the model whatever the
        // batch size, and evaluation memory follows the model, not the data.
        int perForward = Math.max(1, Math.min(batchSize, EVAL_TOKENS_PER_FORWARD / blockSize));
        try (NoGrad off = NoGrad.enter();
                NDManager manager = NDManager.newBaseManager(device)) {
            for (int start = 0; start < size(); start += perForward) {
                int end = Math.min(size(), start + perForward);
                int[] indices = new int[end - start];
                for (int i = 0; i < indices.length; i++) {
                    indices[i] = start + i;
                }
                try (NDManager step = manager.newSubManager()) {
                    NDArray[] sums = nllSums(batch(step, indices), false);
                    nllSum += sums[0].toType(DataType.FLOAT64, false).getDouble();
                    tokens += Math.round(sums[1].toType(DataType.FLOAT64, false).getDouble());
                }
            }
        }
        return new Metrics(nllSum / Math.max(1, tokens), tokens);
    }
}
