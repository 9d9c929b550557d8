package io.peft4j.shadow;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.ParameterStore;
import io.peft4j.core.AdapterScope;
import io.peft4j.core.PeftModel;
import io.peft4j.core.ops.Scalars;
import io.peft4j.core.spi.Adapter;
import java.util.Map;

/**
 * The ShadowPEFT-specific view of a {@link PeftModel} adapter: the causal-LM loss with the shadow's
 * auxiliary term, the shadow's own logits, and the detached shadow.
 *
 * <pre>{@code
 * PeftModel peft = PeftModel.wrap(llama, ShadowConfig.builder().build());
 * ShadowModel shadow = ShadowModel.of(peft);
 * FineTuner.builder().build().fit(peft, (b, training) -> shadow.causalLmLoss(b.get(0), b.get(1), training), data);
 * DetachedShadow edge = shadow.detached();      // embeddings -> shadow -> head, no base layer
 * }</pre>
 */
public final class ShadowModel {

    private final PeftModel peft;
    private final String name;
    private final ShadowAdapter adapter;

    private ShadowModel(PeftModel peft, String name, ShadowAdapter adapter) {
        this.peft = peft;
        this.name = name;
        this.adapter = adapter;
    }

    /**
     * The active adapter of {@code peft}, which must be a ShadowPEFT adapter.
     *
     * @param peft the wrapped model
     * @return a view of its active ShadowPEFT adapter
     */
    public static ShadowModel of(PeftModel peft) {
        if (peft.activeAdapter() == null) {
            throw new IllegalStateException("the PeftModel has no active adapter");
        }
        return of(peft, peft.activeAdapter());
    }

    /**
     * Adapter {@code name} of {@code peft}, which must be a ShadowPEFT adapter.
     *
     * @param peft the wrapped model
     * @param name the adapter's name
     * @return a view of that adapter
     */
    public static ShadowModel of(PeftModel peft, String name) {
        Adapter a = peft.adapter(name);
        ShadowAdapter shadow =
                a.as(ShadowAdapter.class)
                        .orElseThrow(
                                () ->
                                        new IllegalArgumentException(
                                                "adapter '"
                                                        + name
                                                        + "' is "
                                                        + a.config().peftType()
                                                        + ", not "
                                                        + ShadowConfig.PEFT_TYPE));
        return new ShadowModel(peft, name, shadow);
    }

    /** {@return the adapter's resolved config} */
    public ShadowConfig config() {
        return (ShadowConfig) adapter.config();
    }

    /**
     * {@return elements of the shadow network and its projection (not the injection/update
     * modules)}
     */
    public long shadowParameterCount() {
        return adapter.weights().network.size();
    }

    /**
     * One forward of the adapted model (this adapter, on the calling thread) that also returns the
     * shadow's own output: the head on s0. A causal LM's head is frozen, so it acts as the
     * reference's frozen copy; a classification model's shadow uses its own trainable copy of the
     * head ({@link ShadowHead#OWN}, the default) or the base's ({@link ShadowHead#SHARED}). The
     * shadow network runs once.
     *
     * @param inputs the model's inputs ({@code [input_ids, attention_mask?]})
     * @param training whether this is a training pass
     * @return {@code [model output (head's first output), shadow output]}, attached to the inputs'
     *     manager
     */
    public NDList forwardWithShadow(NDList inputs, boolean training) {
        ShadowHub hub = adapter.hub();
        NDManager parent = inputs.head().getManager();
        try (AdapterScope use = peft.useAdapter(name);
                NDManager scope = parent.newSubManager()) {
            for (NDArray a : inputs) {
                a.tempAttach(scope);
            }
            ParameterStore ps = new ParameterStore(parent, false);
            hub.requestInitial();
            NDArray out;
            Map<String, NDArray> initial;
            try {
                out = hub.stack.forwardWith(ps, inputs, training, null, null).head();
                initial = hub.takeInitial();
            } finally {
                hub.cancelInitial();
            }
            NDArray s0 = initial.get(name);
            if (s0 == null) {
                throw new IllegalStateException(
                        "the shadow state of adapter '"
                                + name
                                + "' was not computed: are adapters disabled?");
            }
            NDArray shadow =
                    hub.stack.head(adapter.weights().headStore(parent), s0, training, null).head();
            out.attach(parent);
            shadow.attach(parent);
            return new NDList(out, shadow);
        }
    }

    /**
     * The causal-LM training loss: {@code CE(base logits) + shadow_loss_weight * CE(shadow
     * logits)}, each the mean next-token negative log-likelihood over real tokens.
     *
     * @param ids (B, T) token ids
     * @param mask (B, T) attention mask, or null
     * @param training whether this is a training pass
     * @return the scalar loss
     */
    public NDArray causalLmLoss(NDArray ids, NDArray mask, boolean training) {
        NDList inputs = mask == null ? new NDList(ids) : new NDList(ids, mask);
        NDList out = forwardWithShadow(inputs, training);
        NDArray loss = nextTokenLoss(out.get(0), ids, mask);
        float w = config().shadowLossWeight();
        // Scalars, not NDArray.mul(Number): DJL frees that scalar's buffer while autograd still
        // holds it
        return w == 0 ? loss : loss.add(Scalars.mul(nextTokenLoss(out.get(1), ids, mask), w));
    }

    /** {@return the shadow alone (embeddings, shadow, head), sharing this adapter's tensors} */
    public DetachedShadow detached() {
        return DetachedShadow.view(
                adapter.hub().stack, config(), adapter.weights().network, adapter.weights().head);
    }

    /**
     * Mean next-token negative log-likelihood: position t predicts token t + 1; with a mask, only
     * pairs where both tokens are real count.
     *
     * @param logits (B, T, V)
     * @param ids (B, T)
     * @param mask (B, T) or null
     * @return scalar
     */
    public static NDArray nextTokenLoss(NDArray logits, NDArray ids, NDArray mask) {
        long len = ids.getShape().get(1);
        if (len < 2) {
            throw new IllegalArgumentException(
                    "next-token loss needs sequences of at least 2 tokens, got shape "
                            + ids.getShape());
        }
        if (logits.getShape().dimension() != 3 || logits.getShape().get(1) != len) {
            throw new IllegalArgumentException(
                    "logits must be (batch, " + len + ", vocab), got " + logits.getShape());
        }
        NDArray logp = logits.get(":, :" + (len - 1) + ", :").logSoftmax(-1);
        NDArray target = ids.get(":, 1:").toType(DataType.INT64, false).expandDims(-1);
        NDArray nll = logp.gather(target, -1).squeeze(-1).neg();
        if (mask == null) {
            return nll.mean();
        }
        NDArray m =
                mask.get(":, 1:")
                        .mul(mask.get(":, :" + (len - 1)))
                        .toType(nll.getDataType(), false);
        return nll.mul(m).sum().div(m.sum().maximum(1f));
    }
}
