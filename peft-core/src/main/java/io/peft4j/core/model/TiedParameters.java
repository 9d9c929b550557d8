package io.peft4j.core.model;

import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import java.util.Collection;

/**
 * A model in which some parameters are the same storage as another parameter, such as a causal LM's
 * {@code lm_head.weight} tied to its input embeddings. DJL gives each block its own {@link
 * Parameter}, so a tie shows up as two parameters over one array; a model that ties says which ones
 * are the second handle, so that counts (parameter totals, memory estimates) take the storage once,
 * as Hugging Face's {@code num_parameters()} does.
 */
public interface TiedParameters extends Block {

    /**
     * @return the parameters whose array shares the storage of another parameter of this model
     *     (empty when nothing is tied); compared by identity
     */
    Collection<Parameter> tiedCopies();
}
