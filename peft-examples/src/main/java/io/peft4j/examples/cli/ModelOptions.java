package io.peft4j.examples.cli;

import ai.djl.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options every command shares to pick a model (and optionally an adapter). */
public final class ModelOptions {

    @Option(
            names = "--model",
            paramLabel = "<model>",
            defaultValue = Models.MINILM,
            description =
                    "Hugging Face checkpoint folder, BERT .onnx file, or built-in name '"
                            + Models.MINILM
                            + "' (all-MiniLM-L6-v2 from Maven).")
    String model;

    @Option(
            names = "--tokenizer",
            paramLabel = "<file>",
            description = "tokenizer.json to use instead of the one beside the model")
    Path tokenizer;

    @Option(
            names = "--config",
            paramLabel = "<file>",
            description = "config.json of an .onnx model (default: the one beside it)")
    Path config;

    @Option(
            names = "--device",
            paramLabel = "cpu|gpu",
            defaultValue = "cpu",
            description = "Where the model runs.")
    String device;

    /**
     * @return the parsed device
     */
    Device device() {
        return Models.device(device);
    }

    /**
     * Checks an adapter folder.
     *
     * @param adapter the folder, or null
     * @return the folder, or null
     */
    static Path checkAdapter(Path adapter) {
        if (adapter != null && !Files.isRegularFile(adapter.resolve("adapter_config.json"))) {
            throw new UserError(
                    "--adapter "
                            + adapter
                            + ": no adapter_config.json there"
                            + (Files.isDirectory(adapter) ? "" : " (no such folder)"));
        }
        return adapter;
    }
}
