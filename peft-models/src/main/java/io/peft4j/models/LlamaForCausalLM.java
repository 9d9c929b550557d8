package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;
import io.peft4j.core.model.HeadedLayerStack;
import io.peft4j.core.model.TiedParameters;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * A LLaMA-family causal language model ({@code LlamaForCausalLM}, {@code MistralForCausalLM},
 * {@code Qwen2ForCausalLM}): children {@code model} ({@link LlamaModel}) and {@code lm_head} (DJL
 * Linear, no bias). Parameter names equal Hugging Face's state-dict keys; see {@link
 * #namedParameters()}.
 *
 * <p>Input {@code [input_ids (B,T) int64, attention_mask (B,T)?]}; output {@code [logits (B,T,V)]}.
 *
 * <p>Tied embeddings: after {@link #initialize} (and after loading), {@code lm_head.weight} is a
 * second handle on the storage of {@code model.embed_tokens.weight}, so both always hold the same
 * values; {@link #tieWeights()} redoes the tie after a weight was replaced.
 */
public final class LlamaForCausalLM extends AbstractBlock
        implements HeadedLayerStack, TiedParameters {

    private final LlamaConfig config;
    private Block model;
    private Block lmHead;
    private volatile boolean gradientCheckpointing;

    /**
     * The head's own weight, kept from construction: a wrapper may later take the child's place.
     */
    private final Parameter lmHeadWeight;

    /**
     * @param config model configuration
     */
    public LlamaForCausalLM(LlamaConfig config) {
        this.config = config;
        model = addChildBlock("model", new LlamaModel(config));
        lmHead = addChildBlock("lm_head", LlamaAttention.linear(config.vocabSize(), false));
        lmHeadWeight = lmHead.getParameters().get("weight");
        setInitializer(
                new NormalInitializer((float) config.initializerRange()), Parameter.Type.WEIGHT);
    }

    /**
     * Turns activation checkpointing on for training passes (transformers' {@code
     * gradient_checkpointing_enable()}): each decoder layer keeps only its input and is recomputed
     * during backward, which trades one more forward of the layers for their activations' memory.
     * The trainer must finish each backward with {@code ActivationCheckpointing.backwardPending()}
     * ({@code FineTuner} does).
     *
     * @param on whether to checkpoint
     */
    public void setGradientCheckpointing(boolean on) {
        this.gradientCheckpointing = on;
    }

    @Override
    public boolean gradientCheckpointing() {
        return gradientCheckpointing;
    }

    /**
     * @return the configuration this model was built from
     */
    public LlamaConfig config() {
        return config;
    }

    /**
     * @return every parameter by Hugging Face name ({@code model.layers.0.self_attn.q_proj.weight})
     */
    public Map<String, Parameter> namedParameters() {
        return ModulePaths.namedParameters(this);
    }

    /**
     * @return the block in the {@code lm_head} slot now: the DJL {@code Linear}, or the wrapper an
     *     adapter put there
     */
    public Block lmHead() {
        return lmHead;
    }

    /**
     * @return the decoder under the head (child {@code model})
     */
    @Override
    public LlamaModel body() {
        return (LlamaModel) model;
    }

    /**
     * @return {@code model}
     */
    @Override
    public String bodyName() {
        return "model";
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        return Scopes.run(inputs, in -> forwardWith(ps, in, training, params, null));
    }

    /**
     * One step with a KV cache (inference): runs only the new tokens, attending to the cached ones,
     * and appends the new keys/values and mask to the cache.
     *
     * @param ps parameter store
     * @param ids (B, T) new token ids
     * @param mask (B, T) mask of the new tokens, or null for all ones
     * @param cache the cache of this sequence batch (empty at the start)
     * @param params passed to children unchanged
     * @return (B, T, V) logits of the new tokens, attached to {@code ids}' manager
     */
    public NDArray forwardCached(
            ParameterStore ps,
            NDArray ids,
            NDArray mask,
            KvCache cache,
            PairList<String, Object> params) {
        return forwardCached(ps, ids, mask, cache, params, false);
    }

    /**
     * {@link #forwardCached(ParameterStore, NDArray, NDArray, KvCache, PairList)} that applies the
     * head to the last new position only, which is all a decoding step needs: a prompt of T tokens
     * then costs (B, 1, V) logits instead of (B, T, V) (311 MB for 512 tokens at a 152K vocab).
     *
     * @return (B, 1, V) logits of the last new token, attached to {@code ids}' manager
     */
    NDArray forwardCachedLast(
            ParameterStore ps,
            NDArray ids,
            NDArray mask,
            KvCache cache,
            PairList<String, Object> params) {
        return forwardCached(ps, ids, mask, cache, params, true);
    }

    private NDArray forwardCached(
            ParameterStore ps,
            NDArray ids,
            NDArray mask,
            KvCache cache,
            PairList<String, Object> params,
            boolean lastOnly) {
        NDManager parent = ids.getManager();
        long past = cache.length();
        try (NDManager scope = parent.newSubManager()) {
            ids.tempAttach(scope);
            NDArray newMask;
            if (mask != null) {
                mask.tempAttach(scope);
                newMask = mask.toType(DataType.INT64, false);
            } else {
                newMask = scope.ones(ids.getShape(), DataType.INT64);
            }
            NDArray fullMask = past == 0 ? newMask : cache.mask().concat(newMask, 1);
            fullMask.attach(scope);
            cache.setMask(fullMask.duplicate());
            NDList embedded = body().embed(ps, ids, fullMask, past, false, params);
            NDArray hidden = embedded.head();
            NDList context = embedded.subNDList(1);
            for (int i = 0; i < numLayers(); i++) {
                NDList in = new NDList(hidden);
                in.addAll(context);
                if (past > 0) {
                    in.add(cache.key(i));
                    in.add(cache.value(i));
                }
                NDList out = layer(i).forward(ps, in, false, params);
                hidden = out.get(0);
                cache.update(i, out.get(1), out.get(2));
            }
            if (lastOnly) {
                long len = hidden.getShape().get(1);
                hidden = hidden.get(":, " + (len - 1) + ":, :");
            }
            NDArray logits = head(ps, finalNorm(ps, hidden, false, params), false, params).head();
            logits.attach(parent);
            return logits;
        }
    }

    /**
     * Makes {@code lm_head.weight} share the storage of {@code model.embed_tokens.weight}. Called
     * by {@link #initialize} and by the checkpoint loader when the config ties them.
     *
     * @throws IllegalStateException if the model is not tied or the weights are missing
     */
    public void tieWeights() {
        if (!config.tieWordEmbeddings()) {
            throw new IllegalStateException("config has tie_word_embeddings=false");
        }
        Map<String, Parameter> named = namedParameters();
        Parameter embed = named.get("model.embed_tokens.weight");
        Parameter head = named.get("lm_head.weight");
        if (embed == null || head == null) {
            throw new IllegalStateException(
                    "cannot tie: model.embed_tokens.weight or lm_head.weight not found (wrapped?)");
        }
        NDArray target = head.getArray();
        if (!target.getShape().equals(embed.getArray().getShape())) {
            throw new IllegalStateException(
                    "cannot tie: lm_head.weight "
                            + target.getShape()
                            + " vs model.embed_tokens.weight "
                            + embed.getArray().getShape());
        }
        target.intern(embed.getArray().stopGradient());
        if (head.requiresGradient()) {
            target.setRequiresGradient(true);
        }
    }

    /**
     * @return {@code lm_head.weight} when the embeddings are tied (it is a second handle on {@code
     *     model.embed_tokens.weight}'s storage, counted once), else nothing
     */
    @Override
    public Collection<Parameter> tiedCopies() {
        if (!config.tieWordEmbeddings()) {
            return List.of();
        }
        return List.of(lmHeadWeight);
    }

    /**
     * @return {@code [logits]} = lm_head(hidden)
     */
    @Override
    public NDList head(
            ParameterStore ps, NDArray hidden, boolean training, PairList<String, Object> params) {
        return lmHead.forward(ps, new NDList(hidden), training, params);
    }

    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        model.initialize(manager, dataType, inputShapes);
        lmHead.initialize(manager, dataType, new Shape(1, config.hiddenSize()));
        if (config.tieWordEmbeddings()) {
            tieWeights();
        }
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0].add(config.vocabSize())};
    }
}
