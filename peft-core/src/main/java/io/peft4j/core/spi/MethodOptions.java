package io.peft4j.core.spi;

import java.util.List;

/**
 * The options every method's config is built from by a tool (the {@code peft4j train} command, a
 * benchmark harness), in peft's vocabulary: each method maps them onto its own keys in {@link
 * PeftMethod#optionsJson}, e.g. MoS reads the rank as its budget.
 *
 * @param rank the adapter rank {@code r}
 * @param alpha the scaling {@code lora_alpha}
 * @param dropout the adapter dropout {@code lora_dropout}
 * @param targets {@code target_modules}: module names, or one entry {@code re:<regex>}, or one
 *     entry {@code all-linear}; empty: the method's default
 * @param modulesToSave {@code modules_to_save}, trained in full and saved with the adapter
 * @param taskType peft's {@code task_type}, e.g. {@code SEQ_CLS} or {@code CAUSAL_LM}; null for
 *     none
 */
public record MethodOptions(
        int rank,
        float alpha,
        float dropout,
        List<String> targets,
        List<String> modulesToSave,
        String taskType) {

    /**
     * Copies the lists. The values are not checked here: each method checks what it reads, with its
     * own message naming its key (a rank of 0 means nothing to ShadowPEFT).
     *
     * @param rank the adapter rank {@code r}
     * @param alpha the scaling {@code lora_alpha}
     * @param dropout the adapter dropout {@code lora_dropout}
     * @param targets {@code target_modules}, as in {@link #targets()}
     * @param modulesToSave {@code modules_to_save}
     * @param taskType peft's {@code task_type}
     * @throws NullPointerException if a list is null
     */
    public MethodOptions {
        targets = List.copyOf(targets);
        modulesToSave = List.copyOf(modulesToSave);
    }

    /**
     * These options with other targets.
     *
     * @param newTargets the {@code target_modules}, as in {@link #targets()}
     * @return a copy with {@code newTargets}
     */
    public MethodOptions withTargets(List<String> newTargets) {
        return new MethodOptions(rank, alpha, dropout, newTargets, modulesToSave, taskType);
    }
}
