package io.peft4j.examples.cli;

import io.peft4j.core.PeftMethods;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.MethodOptions;
import io.peft4j.core.spi.PeftMethod;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Finds a PEFT method by its command-line name among those on the class path and builds its config
 * from the common options plus any {@code --set key=value}. Everything method-specific comes from
 * the method itself ({@link PeftMethod#names}, {@link PeftMethod#config}): this class names no
 * method, so a module that registers one is on the command line with no edit here.
 */
public final class Methods {

    /**
     * The command-line names of the methods on the class path and the peft_type each stands for,
     * sorted by name.
     */
    public static final Map<String, String> NAMES = names();

    private Methods() {}

    private static Map<String, String> names() {
        Map<String, String> names = new TreeMap<>();
        for (PeftMethod m : PeftMethods.all().values()) {
            for (String name : m.names()) {
                String clash = names.put(name, m.peftType());
                if (clash != null && !clash.equals(m.peftType())) {
                    throw new IllegalStateException(
                            "methods "
                                    + clash
                                    + " and "
                                    + m.peftType()
                                    + " both claim the name '"
                                    + name
                                    + "'");
                }
            }
        }
        return Collections.unmodifiableMap(names);
    }

    /**
     * Finds a method on the class path.
     *
     * @param name one of {@link #NAMES}' keys, any case
     * @return the method
     * @throws UserError if no method on the class path has that name
     */
    public static PeftMethod find(String name) {
        String type = NAMES.get(name.toLowerCase(Locale.ROOT));
        if (type == null) {
            throw new UserError(
                    "unknown method '"
                            + name
                            + "'; expected one of "
                            + String.join(", ", NAMES.keySet())
                            + " (a method's module must be on the class path)");
        }
        return PeftMethods.forType(type);
    }

    /**
     * Builds the adapter config through {@link PeftMethod#config}.
     *
     * @param method the method
     * @param rank {@code r}
     * @param alpha {@code lora_alpha}
     * @param dropout {@code lora_dropout}
     * @param targets {@code target_modules}: names, or one regex when a single entry starts with
     *     {@code re:}, or {@code all-linear}
     * @param modulesToSave {@code modules_to_save} (empty: none)
     * @param taskType {@code task_type} (SEQ_CLS, CAUSAL_LM)
     * @param extra {@code key=value} pairs; values are JSON when they parse as JSON, else strings
     * @param warnings receives the method's warnings about ignored keys
     * @return the config
     * @throws UserError if a pair is not {@code key=value}, names a key the method does not read,
     *     or the method refuses the config
     */
    public static AdapterConfig config(
            PeftMethod method,
            int rank,
            float alpha,
            float dropout,
            List<String> targets,
            List<String> modulesToSave,
            String taskType,
            List<String> extra,
            Consumer<String> warnings) {
        Map<String, String> overrides = new LinkedHashMap<>();
        for (String kv : extra) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                throw new UserError("--set expects key=value, got '" + kv + "'");
            }
            String key = kv.substring(0, eq);
            overrides.remove(key); // a repeated key counts where it was last given
            overrides.put(key, kv.substring(eq + 1));
        }
        try {
            return method.config(
                    new MethodOptions(rank, alpha, dropout, targets, modulesToSave, taskType),
                    overrides,
                    warnings);
        } catch (IllegalArgumentException e) {
            String message = e.getMessage();
            throw new UserError(message.startsWith("unknown ") ? "--set: " + message : message);
        }
    }
}
