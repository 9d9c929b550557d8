package io.peft4j.tasks;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import io.peft4j.core.model.LayerStack;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.models.LlamaForCausalLM;
import java.util.ArrayList;
import java.util.List;

/**
 * The summed next-token negative log-likelihood of a batch, computed without the (tokens x vocab)
 * logits of the whole batch: position t predicts token t + 1 only where token t + 1 is scored, and
 * the head runs over at most {@code chunkTokens} of those positions at a time.
 *
 * <p>With a {@link LayerStack} model the body runs once to its final hidden state; the scored rows
 * are gathered from it (padding and prompt positions never reach the head). When the head is a
 * plain frozen {@code Linear} (every PEFT method leaves {@code lm_head} alone by default), each
 * chunk's logits, softmax and the gradient of the chunk's NLL with respect to its hidden rows
 * ({@code (softmax - onehot) W}) are computed with at most two (chunk x vocab) arrays alive,
 * without recording; the loss returned is {@code sum(h * G)} minus its own detached value plus the
 * NLL, so its value is the NLL and backward sends exactly {@code G} into the body. Autograd then
 * holds no vocabulary-wide array at all. Any other head (an adapter or a trained copy on {@code
 * lm_head}, full fine-tuning) runs chunk by chunk under autograd: the same values and gradients,
 * but the graph keeps each chunk's log-softmax until backward. Models that are not layer stacks get
 * the full logits.
 */
public final class NextTokenLoss {

    /** Bytes of one chunk's logits (F32) that {@link #defaultChunkTokens} aims at. */
    static final long CHUNK_BYTES = 64L << 20;

    private NextTokenLoss() {}

    /**
     * Positions per chunk for a vocabulary: about {@value #CHUNK_BYTES} bytes of F32 logits, and at
     * least 16 positions.
     *
     * @param vocab vocabulary size
     * @return tokens per chunk
     */
    public static int defaultChunkTokens(long vocab) {
        return (int) Math.max(16, CHUNK_BYTES / (4 * Math.max(1, vocab)));
    }

    /**
     * Returns {@code [sum of weight * NLL over scored positions, sum of weights]}, both scalars
     * attached to {@code ids}' manager; everything else is freed before it returns.
     *
     * @param model a causal LM block (input {@code [input_ids, attention_mask]}, output {@code
     *     [logits]})
     * @param ps parameter store
     * @param ids (B, T) int64 token ids
     * @param mask (B, T) attention mask, or null
     * @param scored (B, T) weight of predicting token t (0: not scored; position 0 is never scored)
     * @param training whether this is a training pass (dropout)
     * @param chunkTokens scored positions per head call, at least 1
     * @return the two sums
     */
    public static NDArray[] sums(
            Block model,
            ParameterStore ps,
            NDArray ids,
            NDArray mask,
            NDArray scored,
            boolean training,
            int chunkTokens) {
        if (chunkTokens < 1) {
            throw new IllegalArgumentException("chunkTokens must be >= 1, got " + chunkTokens);
        }
        NDManager parent = ids.getManager();
        NDList inputs = mask == null ? new NDList(ids) : new NDList(ids, mask);
        try (NDManager scope = parent.newSubManager()) {
            // Borrowed, so that what is computed from them lands in the scope (once each: a second
            // tempAttach would make the scope the owner to return the array to).
            java.util.Set<NDArray> borrowed =
                    java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            for (NDArray a : new NDArray[] {ids, mask, scored}) {
                if (a != null && borrowed.add(a)) {
                    a.tempAttach(scope);
                }
            }
            NDArray[] out =
                    model instanceof LayerStack
                            ? chunked(
                                    (LayerStack) model,
                                    ps,
                                    inputs,
                                    scored,
                                    training,
                                    chunkTokens,
                                    scope)
                            : full(model, ps, inputs, scored, training);
            for (NDArray o : out) {
                o.attach(parent);
            }
            return out;
        }
    }

    /** The whole (B, T, V) logits at once: for blocks whose body and head cannot be run apart. */
    private static NDArray[] full(
            Block model, ParameterStore ps, NDList inputs, NDArray scored, boolean training) {
        NDArray ids = inputs.head();
        NDArray logits = model.forward(ps, inputs, training).head();
        NDArray logProbs = logits.get(":, :-1, :").logSoftmax(-1);
        NDArray nll = logProbs.gather(ids.get(":, 1:").expandDims(-1), 2).squeeze(-1).neg();
        NDArray weights = scored.get(":, 1:").toType(nll.getDataType(), false);
        return new NDArray[] {nll.mul(weights).sum(), weights.sum()};
    }

    private static NDArray[] chunked(
            LayerStack stack,
            ParameterStore ps,
            NDList inputs,
            NDArray scored,
            boolean training,
            int chunkTokens,
            NDManager scope) {
        boolean recording = JniUtils.isGradMode();
        NDArray ids = inputs.head();
        Shape s = ids.getShape();
        int batch = Math.toIntExact(s.get(0));
        int len = Math.toIntExact(s.get(1));
        // Which positions are scored is known on the host: the batch was built there.
        float[] weight = scored.toType(DataType.FLOAT32, false).toFloatArray();
        long[] tokens = ids.toLongArray();
        int n = 0;
        double count = 0;
        for (int i = 0; i < weight.length; i++) {
            if (i % len != 0 && weight[i] != 0f) {
                n++;
                count += weight[i];
            }
        }
        long[] rows = new long[n];
        long[] targets = new long[n];
        float[] weights = new float[n];
        for (int i = 0, k = 0; i < weight.length; i++) {
            if (i % len != 0 && weight[i] != 0f) {
                rows[k] = i - 1L; // position t-1 of the same row predicts token t
                targets[k] = tokens[i];
                weights[k] = weight[i];
                k++;
            }
        }
        NDArray hidden = stack.forwardHidden(ps, inputs, training, null, null);
        long width = hidden.getShape().get(2);
        NDArray countArray = scope.create((float) count);
        if (n == 0) {
            // Nothing to score: a zero that is still connected to the graph, so backward works.
            return new NDArray[] {io.peft4j.core.ops.Scalars.mul(hidden.sum(), 0), countArray};
        }
        // Index arrays are copied into torch-owned memory: autograd keeps them for backward,
        // after this scope has closed the Java buffers they were made from.
        NDArray rowIndex =
                scope.create(rows).duplicate().reshape(n, 1).broadcast(new Shape(n, width));
        NDArray h = hidden.reshape((long) batch * len, width).gather(rowIndex, 0);
        Linear head = frozenLinearHead(stack);
        if (head != null) {
            return new NDArray[] {
                fusedNll(h, head, ps, targets, weights, chunkTokens, recording, scope), countArray
            };
        }
        NDArray total = null;
        for (int c0 = 0; c0 < n; c0 += chunkTokens) {
            int c1 = Math.min(n, c0 + chunkTokens);
            try (NDManager chunk = scope.newSubManager()) {
                NDArray hc = h.get(new NDIndex("{}:{}", c0, c1));
                hc.attach(chunk);
                NDArray logProbs = stack.head(ps, hc, training, null).head().logSoftmax(-1);
                NDArray target =
                        chunk.create(java.util.Arrays.copyOfRange(targets, c0, c1))
                                .duplicate()
                                .reshape(c1 - c0, 1);
                NDArray w =
                        chunk.create(java.util.Arrays.copyOfRange(weights, c0, c1))
                                .duplicate()
                                .toType(logProbs.getDataType(), false);
                NDArray nll = logProbs.gather(target, 1).squeeze(1).neg().mul(w).sum();
                nll.attach(scope);
                total = total == null ? nll : total.add(nll);
            }
        }
        return new NDArray[] {total, countArray};
    }

    /**
     * The head when it is a DJL {@code Linear} itself (no wrapper) with nothing to train, else
     * null.
     */
    private static Linear frozenLinearHead(LayerStack stack) {
        if (!(stack instanceof LlamaForCausalLM)) {
            return null;
        }
        Block head = ((LlamaForCausalLM) stack).lmHead();
        if (head.getClass() != Linear.class) {
            return null;
        }
        for (ai.djl.util.Pair<String, Parameter> p : head.getParameters()) {
            if (p.getValue().requiresGradient() || p.getValue().getArray().hasGradient()) {
                return null;
            }
        }
        return (Linear) head;
    }

    /**
     * NLL of the rows {@code h} under the linear head, chunk by chunk, and (when recording) the
     * surrogate that gives the body its exact gradient.
     */
    private static NDArray fusedNll(
            NDArray h,
            Linear head,
            ParameterStore ps,
            long[] targets,
            float[] weights,
            int chunkTokens,
            boolean recording,
            NDManager scope) {
        Parameter weightParam = null;
        Parameter biasParam = null;
        for (ai.djl.util.Pair<String, Parameter> p : head.getParameters()) {
            if ("weight".equals(p.getKey())) {
                weightParam = p.getValue();
            } else if ("bias".equals(p.getKey())) {
                biasParam = p.getValue();
            }
        }
        NDArray w = ps.getValue(weightParam, h.getDevice(), false);
        NDArray b = biasParam == null ? null : ps.getValue(biasParam, h.getDevice(), false);
        boolean needGradient = recording;
        int n = targets.length;
        NDArray nllSum = null;
        List<NDArray> gradients = new ArrayList<>();
        try (NoGrad off = NoGrad.enter()) {
            NDArray detached = h.stopGradient();
            for (int c0 = 0; c0 < n; c0 += chunkTokens) {
                int c1 = Math.min(n, c0 + chunkTokens);
                int c = c1 - c0;
                try (NDManager chunk = scope.newSubManager()) {
                    NDArray hc = detached.get(new NDIndex("{}:{}", c0, c1));
                    hc.attach(chunk);
                    NDArray target = chunk.create(java.util.Arrays.copyOfRange(targets, c0, c1));
                    NDArray cw =
                            chunk.create(java.util.Arrays.copyOfRange(weights, c0, c1))
                                    .reshape(c, 1)
                                    .toType(hc.getDataType(), false);
                    // At most two (chunk x vocab) arrays at a moment: logits, log-softmax, softmax.
                    NDArray logits = Linear.linear(hc, w, b).head();
                    NDArray logProbs = logits.logSoftmax(1);
                    logits.close();
                    NDArray nll = logProbs.gather(target.reshape(c, 1), 1).neg().muli(cw).sum();
                    nll.attach(scope);
                    nllSum = nllSum == null ? nll : nllSum.addi(nll);
                    if (needGradient) {
                        // d(w * nll)/dh = w * (softmax W - W[target])
                        NDArray probs = logProbs.exp();
                        logProbs.close();
                        NDArray grad = probs.muli(cw).matMul(w);
                        probs.close();
                        NDArray targetRows =
                                target.getNDArrayInternal()
                                        .embedding(target, w, SparseFormat.DENSE)
                                        .head();
                        grad.subi(targetRows.muli(cw));
                        grad.attach(scope);
                        gradients.add(grad);
                    }
                }
            }
        }
        if (!needGradient) {
            return nllSum;
        }
        NDArray g =
                gradients.size() == 1
                        ? gradients.get(0)
                        : NDArrays.concat(new NDList(gradients), 0);
        NDArray surrogate = h.mul(g).sum();
        return surrogate.sub(surrogate.stopGradient()).add(nllSum);
    }
}
