package io.peft4j.shadow;

import io.peft4j.core.spi.ConfigJson;

/**
 * Which classification head scores the shadow state of a classification model (one with a {@code
 * classifier} or {@code score} head). A causal LM always scores it with the frozen base head, which
 * is what the reference's frozen {@code deepcopy(lm_head)} computes.
 */
public enum ShadowHead {
    /**
     * The shadow's own trainable copy of the base classification head, made when the adapter is
     * attached and saved with it ({@code shadow_classifier_head.*}): the reference's {@code
     * ShadowForSequenceClassification}. The default.
     */
    OWN,
    /** The base model's head itself (trained or frozen as the base path's is); nothing is added. */
    SHARED;

    /** {@return the value in {@code adapter_config.json}: {@code "own"} or {@code "shared"}} */
    public String jsonName() {
        return ConfigJson.jsonName(this);
    }

    /**
     * Parses {@code "own"} / {@code "shared"} (any case), naming the value when it is neither.
     *
     * @param value the config value
     * @return the head it names
     * @throws IllegalArgumentException when it names neither
     */
    public static ShadowHead parse(String value) {
        return ConfigJson.enumValue(ShadowHead.class, value, "SHADOW shadow_head");
    }
}
