package io.peft4j.core.tree;

import ai.djl.modality.nlp.DefaultVocabulary;
import ai.djl.modality.nlp.embedding.EmbeddingException;
import ai.djl.modality.nlp.embedding.TrainableWordEmbedding;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.ParameterList;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * A {@link TrainableWordEmbedding} that forwards everything to another block: what goes into a
 * field declared as {@code TrainableWordEmbedding} or {@code WordEmbedding} (DJL's {@code
 * TrainableTextEmbedding.trainableWordEmbedding}, or a user's block) when an adapter wrapper takes
 * that embedding's place. As {@link EmbeddingStandIn}: the forward pass, parameters and shapes are
 * the wrapper's; the vocabulary is the wrapped embedding's; {@link #embedWord(NDArray)} and {@link
 * #embed(NDManager, String[])} run the wrapper, so they see the adapter.
 */
final class WordEmbeddingStandIn extends TrainableWordEmbedding implements StandIn {

    private final Block target;
    private final TrainableWordEmbedding original;

    private WordEmbeddingStandIn(Block target, TrainableWordEmbedding original) {
        // The constructor's vocabulary and width are never used: every call that would reach them
        // goes to the target or to the original embedding.
        super(new DefaultVocabulary(List.of("<unk>")), 1);
        this.target = target;
        this.original = original;
    }

    /**
     * A stand-in for {@code target}, a wrapper around a {@code TrainableWordEmbedding}, or {@code
     * null} when it wraps something else.
     */
    static WordEmbeddingStandIn of(Block target) {
        Block base = StandIns.wrapped(target);
        return base instanceof TrainableWordEmbedding e
                ? new WordEmbeddingStandIn(target, e)
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
    public boolean vocabularyContains(String word) {
        return original.vocabularyContains(word);
    }

    @Override
    public long preprocessWordToEmbed(String word) {
        return original.preprocessWordToEmbed(word);
    }

    @Override
    public NDArray embedWord(NDArray index) throws EmbeddingException {
        return target.forward(
                        new ParameterStore(index.getManager(), false), new NDList(index), false)
                .head();
    }

    @Override
    public String unembedWord(NDArray word) {
        return original.unembedWord(word);
    }

    @Override
    public byte[] encode(String input) {
        return original.encode(input);
    }

    @Override
    public String decode(byte[] byteArray) {
        return original.decode(byteArray);
    }

    @Override
    public long embed(String item) {
        return original.embed(item);
    }

    @Override
    public Optional<String> unembed(long index) {
        return original.unembed(index);
    }

    @Override
    public boolean hasItem(String item) {
        return original.hasItem(item);
    }

    @Override
    public NDArray embed(NDManager manager, String[] items) {
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
