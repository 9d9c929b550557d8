package io.peft4j.lift;

import io.peft4j.core.spi.ConfigJson;

/**
 * Which end of the score {@code |W'|} LIFT trains. The paper selects the largest entries
 * ("principal weights"); the released training scripts run {@code mask_type lift_sparse}, and
 * {@code sparseAdam.py} sets {@code largest = 'largest' in mask_type}, so they select the smallest.
 */
public enum MaskSelection {
    /** The k entries of largest {@code |W'|}: the paper's rule, the default. */
    LARGEST,
    /**
     * The k entries of smallest {@code |W'|}: what the released {@code lift_sparse} configs run.
     */
    SMALLEST;

    /**
     * {@return the value in {@code adapter_config.json}: {@code "largest"} or {@code "smallest"}}
     */
    public String jsonName() {
        return ConfigJson.jsonName(this);
    }

    /**
     * Parses {@code "largest"} / {@code "smallest"} (any case), naming the value when it is
     * neither.
     *
     * @param value the config value
     * @return the selection it names
     * @throws IllegalArgumentException when it names neither
     */
    public static MaskSelection fromJson(String value) {
        return ConfigJson.enumValue(MaskSelection.class, value, "LIFT mask_selection");
    }
}
