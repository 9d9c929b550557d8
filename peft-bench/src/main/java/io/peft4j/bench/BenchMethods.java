package io.peft4j.bench;

import io.peft4j.core.PeftMethods;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.BenchSetting;
import io.peft4j.core.spi.MethodOptions;
import io.peft4j.core.spi.PeftMethod;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The harnesses' only way to a PEFT method: through the method registry ({@link PeftMethods}) by
 * name, never by class, so every method on the class path (a test's toy method included) is
 * benchmarked with no edit here. Harnesses about LoRA itself ask for it by name ({@link #lora}).
 */
public final class BenchMethods {

    /** The method every per-method ratio is taken against. */
    public static final String REFERENCE = "lora";

    private BenchMethods() {}

    /**
     * The method a tool selects by {@code name} ({@link PeftMethod#names}).
     *
     * @param name e.g. {@code lora}
     * @return the method
     * @throws IllegalArgumentException naming the known names if no method on the class path has
     *     that name
     */
    public static PeftMethod byName(String name) {
        List<String> known = new ArrayList<>();
        for (PeftMethod m : PeftMethods.all().values()) {
            if (m.names().contains(name)) {
                return m;
            }
            known.addAll(m.names());
        }
        throw new IllegalArgumentException(
                "no method named '" + name + "' is on the class path; known: " + known);
    }

    /**
     * Every method on the class path, the {@link #REFERENCE} method first, then by {@code
     * peft_type}.
     *
     * @return the methods
     */
    public static List<PeftMethod> all() {
        List<PeftMethod> methods = new ArrayList<>(PeftMethods.all().values());
        methods.sort(Comparator.comparing((PeftMethod m) -> !m.names().contains(REFERENCE)));
        return methods;
    }

    /**
     * The config of method {@code name} at the common options, without overrides or task type.
     *
     * @param name the method's name
     * @param rank the rank
     * @param alpha the alpha
     * @param targets {@code target_modules} (names, {@code re:<regex>} or {@code all-linear})
     * @return the config
     * @throws IllegalArgumentException if there is no such method or it refuses the options
     */
    public static AdapterConfig config(String name, int rank, float alpha, List<String> targets) {
        return byName(name)
                .config(
                        new MethodOptions(rank, alpha, 0f, targets, List.of(), null),
                        Map.of(),
                        w -> {});
    }

    /**
     * LoRA r=8, alpha 16, no dropout on {@code targets}: what the LoRA harnesses measure.
     *
     * @param targets {@code target_modules} (names, {@code re:<regex>} or {@code all-linear})
     * @return the config
     * @throws IllegalArgumentException if LoRA is not on the class path
     */
    public static AdapterConfig lora(String... targets) {
        return config(REFERENCE, 8, 16f, List.of(targets));
    }

    /**
     * The config of one bench setting of {@code method}, with the harness's {@code targets}.
     *
     * @param method the method
     * @param setting one of its {@link PeftMethod#benchSettings}
     * @param targets the modules the harness resolved the setting's {@link BenchSetting.Targets} to
     *     (empty for {@link BenchSetting.Targets#NONE})
     * @param dropout the dropout
     * @param taskType peft's {@code task_type}, or null
     * @return the config
     * @throws IllegalArgumentException if the method refuses the setting
     */
    public static AdapterConfig config(
            PeftMethod method,
            BenchSetting setting,
            List<String> targets,
            float dropout,
            String taskType) {
        return method.config(
                new MethodOptions(
                        setting.rank(), setting.alpha(), dropout, targets, List.of(), taskType),
                setting.overrides(),
                w -> {});
    }
}
