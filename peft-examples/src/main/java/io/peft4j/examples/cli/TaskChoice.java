package io.peft4j.examples.cli;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Which task a command runs when {@code --task} is not given: the adapter's, else the one the model
 * can only be (a decoder is a causal LM, a BERT with a classification head a classifier), so no
 * command needs {@code --task} for a model that allows one reading. {@code --task} overrides.
 */
final class TaskChoice {

    /**
     * What a {@code --model} argument holds, judged from its config.json alone (no weights read).
     */
    enum ModelKind {
        /** A LLaMA-family decoder (llama, mistral, qwen2). */
        DECODER,
        /**
         * A BERT encoder without a classification head (also the built-in MiniLM and .onnx files).
         */
        ENCODER,
        /** A BERT encoder whose config names BertForSequenceClassification. */
        CLASSIFIER,
        /** No readable config.json: the loader will say what is wrong. */
        UNKNOWN
    }

    private TaskChoice() {}

    /**
     * Picks the task.
     *
     * @param option the {@code --task} value, or null
     * @param adapter the {@code --adapter} folder, or null
     * @param model the {@code --model} argument
     * @param bareAllowed whether the command can run the bare encoder ({@code forward}, {@code
     *     merge})
     * @return the task
     */
    static Task choose(String option, Path adapter, String model, boolean bareAllowed) {
        if (option != null) {
            return Task.parse(option);
        }
        Task fromAdapter = ofAdapter(adapter);
        if (fromAdapter != null) {
            return fromAdapter;
        }
        switch (kindOf(model)) {
            case DECODER:
                return Task.CAUSAL_LM;
            case CLASSIFIER:
                return Task.CLASSIFY;
            default:
                return bareAllowed ? Task.BASE : Task.CLASSIFY;
        }
    }

    /**
     * The task an adapter was trained for: {@code training_run.json}'s task, else the {@code
     * task_type} of its {@code adapter_config.json} (SEQ_CLS, CAUSAL_LM), else null.
     */
    static Task ofAdapter(Path adapter) {
        if (adapter == null) {
            return null;
        }
        JsonObject info = RunInfo.read(adapter);
        if (info.has("task")) {
            return RunInfo.task(info, null);
        }
        JsonObject config = readObject(adapter.resolve("adapter_config.json"));
        JsonElement type = config == null ? null : config.get("task_type");
        if (type != null && type.isJsonPrimitive()) {
            switch (type.getAsString()) {
                case "SEQ_CLS":
                    return Task.CLASSIFY;
                case "CAUSAL_LM":
                    return Task.CAUSAL_LM;
                default:
                    return null;
            }
        }
        return null;
    }

    /**
     * @param model the {@code --model} argument
     * @return what it holds, from its config.json's model_type and architectures
     */
    static ModelKind kindOf(String model) {
        if (model.equals(Models.MINILM) || model.toLowerCase(Locale.ROOT).endsWith(".onnx")) {
            return ModelKind.ENCODER;
        }
        JsonObject config = readObject(Path.of(model).resolve("config.json"));
        if (config == null) {
            return ModelKind.UNKNOWN;
        }
        String type = string(config.get("model_type"));
        switch (type) {
            case "llama":
            case "mistral":
            case "qwen2":
                return ModelKind.DECODER;
            case "bert":
                JsonElement archs = config.get("architectures");
                if (archs != null && archs.isJsonArray()) {
                    for (JsonElement a : archs.getAsJsonArray()) {
                        if (string(a).endsWith("ForSequenceClassification")) {
                            return ModelKind.CLASSIFIER;
                        }
                    }
                }
                return ModelKind.ENCODER;
            default:
                return ModelKind.UNKNOWN;
        }
    }

    private static String string(JsonElement e) {
        return e != null && e.isJsonPrimitive() ? e.getAsString() : "";
    }

    /** A JSON object file, or null when it is absent or unreadable (the loaders report those). */
    private static JsonObject readObject(Path file) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            JsonElement e = JsonParser.parseString(Files.readString(file));
            return e.isJsonObject() ? e.getAsJsonObject() : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
