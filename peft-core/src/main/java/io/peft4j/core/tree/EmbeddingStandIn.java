package io.peft4j.core.tree;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.ParameterList;
import ai.djl.nn.core.AbstractIndexedEmbedding;
import ai.djl.nn.core.Embedding;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Optional;

/**
 * An {@link Embedding} that forwards everything to another block: what goes into a field declared
 * as DJL's {@code Embedding} (or {@code AbstractIndexedEmbedding}, {@code AbstractEmbedding}) when
 * an adapter wrapper takes that embedding's place. As {@link LinearStandIn}, only the typed field
 * holds it; the children list holds the wrapper.
 *
 * <p>The forward pass, parameters, shapes and children are the wrapper's. The item API (which index
 * an item has, and back) is the wrapped embedding's own, so the parent's vocabulary look-ups are
 * unchanged; {@link #embed(NDManager, Object[])} looks the items up there and runs the wrapper, so
 * it sees the adapter. Items of any type pass through ({@code Embedding<Object>}: the field's
 * {@code T} is erased).
 */
final class EmbeddingStandIn extends Embedding<Object> implements StandIn {

    private final Block target;
    private final AbstractIndexedEmbedding<Object> original;

    /** Parameters of the unused builder state: an embedding of one item of width one. */
    private static final class Unused extends Embedding.BaseBuilder<Object, Unused> {
        Unused() {
            embeddingType = Object.class;
            embeddingSize = 1;
            numEmbeddings = 1;
        }

        @Override
        protected Unused setType(Class<Object> type) {
            embeddingType = type;
            return this;
        }

        @Override
        protected Unused self() {
            return this;
        }
    }

    @SuppressWarnings("unchecked")
    private EmbeddingStandIn(Block target, AbstractIndexedEmbedding<?> original) {
        // Embedding's constructors take a builder; the parameter it declares is never used: every
        // call that would reach it goes to the target or to the original embedding.
        super(new Unused());
        this.target = target;
        this.original = (AbstractIndexedEmbedding<Object>) original;
    }

    /**
     * A stand-in for {@code target}, a wrapper around a DJL embedding, or {@code null} when the
     * block it wraps is no {@link AbstractIndexedEmbedding}.
     */
    static EmbeddingStandIn of(Block target) {
        Block base = StandIns.wrapped(target);
        return base instanceof AbstractIndexedEmbedding<?> e
                ? new EmbeddingStandIn(target, e)
                : null;
    }

    @Override
    public Block target() {
        return target;
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        return target.forward(ps, inputs, training, params);
    }

    @Override
    public byte[] encode(Object input) throws IOException {
        return original.encode(input);
    }

    @Override
    public Object decode(byte[] byteArray) throws IOException {
        return original.decode(byteArray);
    }

    @Override
    public long embed(Object item) {
        return original.embed(item);
    }

    @Override
    public Optional<Object> unembed(long index) {
        return original.unembed(index);
    }

    @Override
    public boolean hasItem(Object item) {
        return original.hasItem(item);
    }

    @Override
    public NDArray embed(NDManager manager, Object[] items) {
        return StandIns.embedItems(target, manager, items, original::embed);
    }

    @Override
    public void prepare(Shape[] inputShapes) {
        // the target is built already
    }

    @Override
    public boolean isInitialized() {
        return target.isInitialized();
    }

    @Override
    public void initialize(NDManager manager, DataType dataType, Shape... inputShapes) {
        target.initialize(manager, dataType, inputShapes);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return target.getOutputShapes(inputShapes);
    }

    @Override
    public Shape[] getInputShapes() {
        return target.getInputShapes();
    }

    @Override
    public PairList<String, Shape> describeInput() {
        return target.describeInput();
    }

    @Override
    public ParameterList getDirectParameters() {
        return target.getDirectParameters();
    }

    @Override
    public ParameterList getParameters() {
        return target.getParameters();
    }

    @Override
    public BlockList getChildren() {
        return target.getChildren();
    }

    @Override
    public void clear() {
        target.clear();
    }

    @Override
    public void cast(DataType dataType) {
        target.cast(dataType);
    }

    @Override
    public void saveParameters(DataOutputStream os) throws IOException {
        target.saveParameters(os);
    }

    @Override
    public void loadParameters(NDManager manager, java.io.DataInputStream is)
            throws IOException, ai.djl.MalformedModelException {
        target.loadParameters(manager, is);
    }

    @Override
    public String toString() {
        return target.toString();
    }
}
