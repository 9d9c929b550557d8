package io.peft4j.models;

import java.util.List;

/**
 * What a weight load did.
 *
 * @param loaded model parameter names that received a tensor
 * @param ignored checkpoint tensor names skipped by rule (buffers such as {@code
 *     rotary_emb.inv_freq}, a tied {@code lm_head.weight}, heads of another task), each followed by
 *     the reason after a colon
 * @param newlyInitialized model parameters the checkpoint did not have and that were allowed to
 *     keep their random initialisation (a new classification head)
 */
public record LoadReport(List<String> loaded, List<String> ignored, List<String> newlyInitialized) {

    /**
     * Copies the lists.
     *
     * @param loaded the checkpoint tensors loaded into the model
     * @param ignored the checkpoint tensors not loaded, each with its reason
     * @param newlyInitialized the parameters that kept their random initialisation
     */
    public LoadReport {
        loaded = List.copyOf(loaded);
        ignored = List.copyOf(ignored);
        newlyInitialized = List.copyOf(newlyInitialized);
    }
}
