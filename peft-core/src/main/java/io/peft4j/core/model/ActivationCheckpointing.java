package io.peft4j.core.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * Activation checkpointing for a {@link LayerStack} (transformers' {@code
 * gradient_checkpointing_enable()}): the layers run forward without recording, keeping only each
 * layer's input; the last layer runs recorded from a detached copy of its input. The trainer's
 * backward then reaches that copy, and {@link #backwardPending()} continues layer by layer in
 * reverse: it recomputes layer i from its saved input (a detached copy that requires a gradient),
 * runs backward from the layer's output with the gradient that arrived there, and reads the
 * gradient of the input as the next one; parameter gradients add up across these calls as across
 * micro-batches. Memory: the layers' inputs plus one layer's activations, instead of every layer's;
 * time: one more forward of every layer but the last.
 *
 * <p>Dropout draws the same masks in the recomputation as in the forward pass: each layer runs
 * under an engine seed of its own, drawn from the engine's generator (so a seeded step stays
 * reproducible, though its masks differ from those of a run without checkpointing).
 *
 * <p>The pending recomputation is per thread. {@code FineTuner} calls {@link #backwardPending()}
 * after each backward and {@link #discardPending()} at the end of each step; code with a loop of
 * its own must do the same, or the layers below the last get no gradient. A layer must be a
 * function of its input, the context and the parameters (no state carried between layers).
 */
public final class ActivationCheckpointing {

    private static final ThreadLocal<Pending> PENDING = new ThreadLocal<>();

    private ActivationCheckpointing() {}

    /** What the backward of one checkpointed forward still has to do. */
    private static final class Pending implements AutoCloseable {
        final NDManager keep;
        final LayerStack stack;
        final ParameterStore ps;
        final NDList context;
        final boolean training;
        final PairList<String, Object> params;
        final NDArray[] inputs;
        final int[] seeds;
        final NDArray embedded;
        NDArray lastInput;

        Pending(
                NDManager keep,
                LayerStack stack,
                ParameterStore ps,
                NDList context,
                boolean training,
                PairList<String, Object> params,
                NDArray embedded,
                int layers) {
            this.keep = keep;
            this.stack = stack;
            this.ps = ps;
            this.context = context;
            this.training = training;
            this.params = params;
            this.embedded = embedded;
            this.inputs = new NDArray[layers];
            this.seeds = new int[layers];
        }

        @Override
        public void close() {
            keep.close();
        }
    }

    /**
     * Whether a forward pass on this thread should checkpoint: only while autograd records (a
     * training pass under a gradient collector); inference has nothing to recompute.
     *
     * @return true when PyTorch's grad mode is on for this thread
     */
    public static boolean recording() {
        return "PyTorch".equals(Engine.getInstance().getEngineName()) && JniUtils.isGradMode();
    }

    /**
     * Runs every layer of {@code stack} on {@code hidden} with checkpointing and registers the
     * recomputation that {@link #backwardPending()} will run.
     *
     * @param stack the model
     * @param ps parameter store
     * @param hidden (B, T, H) the embeddings (recorded: their gradient is passed on at the end)
     * @param context what every layer takes after the hidden state
     * @param training whether this is a training pass
     * @param params passed to the layers unchanged
     * @return the last layer's output, recorded from a detached copy of its input
     */
    public static NDArray forwardLayers(
            LayerStack stack,
            ParameterStore ps,
            NDArray hidden,
            NDList context,
            boolean training,
            PairList<String, Object> params) {
        discardPending(); // a checkpointed forward that no backward followed
        int layers = stack.numLayers();
        Engine engine = Engine.getInstance();
        NDManager keep = NDManager.newBaseManager(hidden.getDevice(), engine.getEngineName());
        // The context outlives the forward's scope: the recomputation needs it.
        for (NDArray c : context) {
            c.attach(keep);
        }
        Pending pending = new Pending(keep, stack, ps, context, training, params, hidden, layers);
        int[] seeds =
                hidden.getManager()
                        .randomInteger(0, Integer.MAX_VALUE, new Shape(layers), DataType.INT32)
                        .toIntArray();
        System.arraycopy(seeds, 0, pending.seeds, 0, layers);
        NDArray x;
        JniUtils.setGradMode(false);
        try {
            x = hidden.stopGradient();
            for (int i = 0; i < layers - 1; i++) {
                pending.inputs[i] = x;
                engine.setRandomSeed(pending.seeds[i]);
                NDArray next = stack.forwardLayer(i, ps, x, context, training, params);
                x.attach(keep);
                x = next;
            }
            x = x.duplicate();
        } finally {
            JniUtils.setGradMode(true);
        }
        x.attach(keep);
        x.setRequiresGradient(true);
        pending.lastInput = x;
        hidden.attach(keep);
        PENDING.set(pending);
        engine.setRandomSeed(pending.seeds[layers - 1]);
        return stack.forwardLayer(layers - 1, ps, x, context, training, params);
    }

    /**
     * Finishes the backward of this thread's last checkpointed forward (see the class comment); a
     * no-op when there is none. Call it after the backward of the loss, with recording still on.
     */
    public static void backwardPending() {
        Pending p = PENDING.get();
        if (p == null) {
            return;
        }
        PENDING.remove();
        try (p) {
            Engine engine = Engine.getInstance();
            NDArray grad = gradientOf(p.lastInput, p.keep);
            if (grad == null) {
                return; // backward did not reach the layers
            }
            for (int i = p.inputs.length - 2; i >= 0; i--) {
                try (NDManager segment = p.keep.newSubManager()) {
                    NDArray input = p.inputs[i].duplicate();
                    input.attach(segment);
                    input.setRequiresGradient(true);
                    engine.setRandomSeed(p.seeds[i]);
                    NDArray out =
                            p.stack.forwardLayer(i, p.ps, input, p.context, p.training, p.params);
                    JniUtils.backward((PtNDArray) out, (PtNDArray) grad, false, false);
                    grad.close();
                    grad = gradientOf(input, p.keep);
                }
            }
            if (JniUtils.requiresGrad((PtNDArray) p.embedded)) {
                JniUtils.backward((PtNDArray) p.embedded, (PtNDArray) grad, false, false);
            }
        }
    }

    /** Drops this thread's pending recomputation, if any, and frees what it kept. */
    public static void discardPending() {
        Pending p = PENDING.get();
        if (p != null) {
            PENDING.remove();
            p.close();
        }
    }

    private static NDArray gradientOf(NDArray leaf, NDManager into) {
        if (!leaf.hasGradient()) {
            return null;
        }
        try (NDArray g = leaf.getGradient()) {
            NDArray copy = g.duplicate();
            copy.attach(into);
            return copy;
        }
    }
}
