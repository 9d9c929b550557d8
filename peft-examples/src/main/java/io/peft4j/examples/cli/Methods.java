package io.peft4j.examples.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import io.peft4j.core.PeftMethods;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.PeftMethod;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * Finds a PEFT method by its command-line name among those on the class path and builds its config
 * the way Hugging Face peft would read it: an {@code adapter_config.json} object with the common
 * keys ({@code r}, {@code lora_alpha}, {@code lora_dropout}, {@code target_modules}, {@code
 * modules_to_save}, {@code task_type}) plus any {@code --set key=value}, parsed by the method
 * itself.
 */
public final class Methods {

    /** The command-line names and the peft_type each stands for. */
    public static final Map<String, String> NAMES =
            Map.of(
                    "lora", "LORA", "mos", "MOS", "shadow", "SHADOW", "masa", "MASA", "lift",
                    "LIFT");

    private Methods() {}

    /**
     * Finds a method on the class path.
     *
     * @param name lora, mos, shadow, masa or lift
     * @return the method
     * @throws UserError if the name is unknown or the method's module is not on the class path
     */
    public static PeftMethod find(String name) {
        String key = name.toLowerCase(Locale.ROOT);
        if (!NAMES.containsKey(key)) {
            throw new UserError(
                    "unknown method '"
                            + name
                            + "'; expected one of "
                            + NAMES.keySet().stream().sorted().collect(Collectors.joining(", ")));
        }
        String wanted = NAMES.get(key);
        Map<String, PeftMethod> all = PeftMethods.all();
        for (Map.Entry<String, PeftMethod> e : all.entrySet()) {
            String type = e.getKey().toUpperCase(Locale.ROOT).replaceAll("[^A-Z]", "");
            if (type.equals(wanted) || type.startsWith(wanted)) {
                return e.getValue();
            }
        }
        throw new UserError(
                "method '"
                        + key
                        + "' (peft_type "
                        + wanted
                        + ") is not on the class path; available: "
                        + all.keySet().stream()
                                .map(t -> t.toLowerCase(Locale.ROOT))
                                .collect(Collectors.toList())
                        + " (add its module to peft-examples' dependencies)");
    }

    /**
     * Builds the adapter config.
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
     * @throws UserError if the method refuses the config
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
        JsonObject json = new JsonObject();
        json.addProperty("peft_type", method.peftType());
        json.addProperty("r", rank);
        json.addProperty("lora_alpha", alpha);
        json.addProperty("lora_dropout", dropout);
        if (targets.size() == 1 && targets.get(0).startsWith("re:")) {
            json.addProperty("target_modules", targets.get(0).substring(3));
        } else if (targets.size() == 1 && targets.get(0).equals("all-linear")) {
            json.addProperty("target_modules", "all-linear");
        } else {
            json.add("target_modules", strings(targets));
        }
        if (!modulesToSave.isEmpty()) {
            json.add("modules_to_save", strings(modulesToSave));
        }
        json.addProperty("task_type", taskType);
        adaptCommonKeys(method.peftType(), json, rank);
        for (String kv : extra) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                throw new UserError("--set expects key=value, got '" + kv + "'");
            }
            json.add(kv.substring(0, eq), value(kv.substring(eq + 1)));
        }
        try {
            return method.parseConfig(json, warnings);
        } catch (RuntimeException e) {
            throw new UserError(
                    method.peftType() + " config " + json + " is not valid: " + e.getMessage());
        }
    }

    /**
     * Maps the common options onto what each method reads, so {@code --method X} works with no
     * other change: {@code --rank} is MoS's budget v (with r = 2v) and LIFT's budget rank; MASA
     * takes 2 atoms per dictionary and ShadowPEFT its own defaults. LoRA-only keys are dropped for
     * methods that would only warn about them. {@code --set} still overrides all of it.
     */
    static void adaptCommonKeys(String peftType, JsonObject json, int rank) {
        switch (peftType) {
            case "MOS":
                json.addProperty("equivalent_rank", rank);
                json.addProperty("r", 2 * rank);
                json.addProperty("shards_per_vector", 2);
                json.addProperty("private_rank", 1);
                break;
            case "LIFT":
                json.remove("lora_alpha");
                json.remove("lora_dropout");
                break;
            case "MASA":
                json.remove("r");
                json.remove("lora_alpha");
                json.remove("lora_dropout");
                json.addProperty("num_atoms", 2);
                break;
            case "SHADOW":
                json.remove("r");
                json.remove("lora_alpha");
                json.remove("lora_dropout");
                json.remove("target_modules");
                break;
            default:
                break;
        }
    }

    private static JsonElement value(String s) {
        try {
            JsonElement e = JsonParser.parseString(s);
            if (e != null
                    && !e.isJsonNull()
                    && !(e.isJsonPrimitive() && e.getAsJsonPrimitive().isString())) {
                return e;
            }
        } catch (JsonParseException e) {
            // a bare string
        }
        return new JsonPrimitive(s);
    }

    private static JsonArray strings(List<String> values) {
        JsonArray a = new JsonArray();
        values.forEach(a::add);
        return a;
    }
}
