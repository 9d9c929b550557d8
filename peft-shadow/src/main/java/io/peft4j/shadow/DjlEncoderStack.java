package io.peft4j.shadow;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.ParameterList;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.nn.transformer.TransformerEncoderBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import ai.djl.util.PairList;
import io.peft4j.core.model.LayerStack;
import io.peft4j.core.tree.AdapterWrapper;
import io.peft4j.core.tree.DelegatingBlock;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.function.Function;

/**
 * A {@link LayerStack} view of a DJL {@link SequentialBlock} that holds DJL {@link
 * TransformerEncoderBlock}s one after the other, the way a DJL user stacks them: the children
 * before the first encoder block are the embedding, the encoder blocks are the layers, the children
 * after the last one are the head, and there is no final norm (DJL's block ends in its own
 * BatchNorm).
 *
 * <p>It reads the sequential block's children list on every call, so a layer slot holds whatever
 * wrapper was put there. As in the sequential block itself, only layer 0 sees the inputs after the
 * hidden state (an attention mask for {@code TransformerEncoderBlock}); later layers get the
 * previous layer's output alone. It is a view, not part of the model: it has no children or
 * parameters of its own ({@link #getParameters()} gives the sequential block's).
 */
final class DjlEncoderStack extends DelegatingBlock implements LayerStack {

    private final SequentialBlock sequential;
    private final int first;
    private final int count;
    private final List<String> layerPaths;
    private final int hiddenSize;
    private final int numHeads;
    private final int intermediateSize;
    private final Function<NDList, NDList> activation;

    private DjlEncoderStack(SequentialBlock sequential, int first, int count) {
        this.sequential = sequential;
        this.first = first;
        this.count = count;
        ModuleTree tree = ModuleTree.of(sequential);
        IdentityHashMap<Block, String> names = new IdentityHashMap<>();
        for (ModuleNode node : tree.nodes()) {
            if (!node.path().isEmpty() && node.path().indexOf('.') < 0) {
                names.put(node.block(), node.path());
            }
        }
        List<String> paths = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            paths.add(names.get(child(first + i)));
        }
        this.layerPaths = List.copyOf(paths);
        TransformerEncoderBlock encoder = encoderIn(child(first));
        ModuleTree inside = ModuleTree.of(encoder);
        Parameter gamma = inside.get("attentionNorm").block().getDirectParameters().get("gamma");
        this.hiddenSize = Math.toIntExact(gamma.getArray().getShape().get(0));
        this.numHeads = headCount(inside.get("selfAttention").block());
        Block feedForward = inside.get("outputBlock").block();
        Block firstLinear = feedForward.getChildren().get(0).getValue();
        this.intermediateSize = Math.toIntExact(weightShape(firstLinear).get(0));
        Function<NDList, NDList> act = null;
        for (Pair<String, Block> c : feedForward.getChildren()) {
            if (c.getValue() instanceof LambdaBlock lambda) {
                act =
                        x ->
                                lambda.forward(
                                        new ParameterStore(x.head().getManager(), false), x, false);
                break;
            }
        }
        if (act == null) {
            throw new IllegalArgumentException(
                    "the feed-forward block of DJL TransformerEncoderBlock '"
                            + layerPaths.get(0)
                            + "' has no activation LambdaBlock; cannot build a shadow of its family");
        }
        this.activation = act;
        inputShapes = new Shape[0];
    }

    /**
     * The view of the shallowest SequentialBlock in {@code tree} that holds DJL
     * TransformerEncoderBlocks (or ShadowPEFT wrappers around them) as direct children, or null
     * when there is none.
     *
     * @throws IllegalArgumentException when that block's encoder blocks are not consecutive
     */
    static ShadowInjector.StackAt find(ModuleTree tree) {
        ModuleNode best = null;
        for (ModuleNode node : tree.nodes()) {
            if (node.block() instanceof SequentialBlock seq
                    && !encoderPositions(seq).isEmpty()
                    && (best == null || depth(node) < depth(best))) {
                best = node;
            }
        }
        if (best == null) {
            return null;
        }
        SequentialBlock seq = (SequentialBlock) best.block();
        List<Integer> encoders = encoderPositions(seq);
        int start = encoders.get(0);
        int n = encoders.size();
        if (encoders.get(n - 1) - start + 1 != n) {
            throw new IllegalArgumentException(
                    "ShadowPEFT over DJL TransformerEncoderBlocks needs them one after the other in"
                            + " one SequentialBlock; '"
                            + (best.path().isEmpty() ? "<root>" : best.path())
                            + "' has them at child positions "
                            + encoders
                            + " with other blocks between");
        }
        return new ShadowInjector.StackAt(best, new DjlEncoderStack(seq, start, n));
    }

    /** Positions of the children of {@code seq} that are (or wrap) encoder blocks. */
    private static List<Integer> encoderPositions(SequentialBlock seq) {
        List<Integer> positions = new ArrayList<>();
        ai.djl.nn.BlockList children = seq.getChildren();
        for (int i = 0; i < children.size(); i++) {
            if (encoderIn(children.get(i).getValue()) != null) {
                positions.add(i);
            }
        }
        return positions;
    }

    private static int depth(ModuleNode node) {
        return node.path().isEmpty() ? 0 : node.path().split("\\.").length;
    }

    /** The encoder block {@code b} is, or wraps; null when it is neither. */
    private static TransformerEncoderBlock encoderIn(Block b) {
        Block inner = b;
        while (inner instanceof AdapterWrapper w) {
            inner = w.baseLayer();
        }
        return inner instanceof TransformerEncoderBlock e ? e : null;
    }

    private Block child(int index) {
        return sequential.getChildren().get(index).getValue();
    }

    private static Shape weightShape(Block linear) {
        ParameterList p = linear.getDirectParameters();
        if (!p.contains("weight") || !p.get("weight").isInitialized()) {
            throw new IllegalArgumentException(
                    "a DJL TransformerEncoderBlock's feed-forward Linear has no initialized weight:"
                            + " initialize the model before wrapping it");
        }
        return p.get("weight").getArray().getShape();
    }

    /** DJL keeps the head count in a private field and has no getter for it. */
    private static int headCount(Block attention) {
        if (attention instanceof ScaledDotProductAttentionBlock) {
            try {
                Field f = ScaledDotProductAttentionBlock.class.getDeclaredField("headCount");
                f.setAccessible(true);
                return f.getInt(attention);
            } catch (ReflectiveOperationException | RuntimeException e) {
                // another DJL version: fall through to the error
            }
        }
        throw new IllegalArgumentException(
                "cannot read the head count of "
                        + attention.getClass().getName()
                        + "; set ShadowConfig.shadowNumAttentionHeads explicitly");
    }

    /** {@return the base's attention head count} */
    int numAttentionHeads() {
        return numHeads;
    }

    /** {@return the base's feed-forward width} */
    int intermediateSize() {
        return intermediateSize;
    }

    /** {@return the base's feed-forward activation (its own LambdaBlock)} */
    Function<NDList, NDList> activation() {
        return activation;
    }

    /** {@return the sequential block this view reads} */
    SequentialBlock sequential() {
        return sequential;
    }

    @Override
    public int numLayers() {
        return count;
    }

    @Override
    public Block layer(int index) {
        if (index < 0 || index >= count) {
            throw new IndexOutOfBoundsException("layer " + index + " of " + count);
        }
        return child(first + index);
    }

    @Override
    public String layerPath(int index) {
        return layerPaths.get(index);
    }

    @Override
    public int hiddenSize() {
        return hiddenSize;
    }

    @Override
    public NDList embed(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDList x = inputs;
        for (int i = 0; i < first; i++) {
            x = child(i).forward(ps, x, training, params);
        }
        return x;
    }

    /** As the sequential block runs them: the inputs after the hidden state go to layer 0 only. */
    @Override
    public NDList layerContext(int index, NDList context) {
        return index == 0 ? context : new NDList();
    }

    @Override
    public NDList head(
            ParameterStore ps, NDArray hidden, boolean training, PairList<String, Object> params) {
        NDList x = new NDList(hidden);
        ai.djl.nn.BlockList children = sequential.getChildren();
        for (int i = first + count; i < children.size(); i++) {
            x = children.get(i).getValue().forward(ps, x, training, params);
        }
        return x;
    }

    /** The sequential block runs the whole model; the view only reads it. */
    @Override
    protected Block delegate() {
        return sequential;
    }

    @Override
    public ParameterList getParameters() {
        return sequential.getParameters();
    }
}
