package io.peft4j.examples.cli;

import ai.djl.nn.Block;
import com.google.gson.JsonObject;
import io.peft4j.core.PeftModel;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.LlamaForCausalLM;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code peft4j merge}: base + adapter into one full Hugging Face checkpoint. */
@Command(
        showDefaultValues = true,
        name = "merge",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Merges an adapter into its base model and writes a full checkpoint.",
            "The checkpoint is in Hugging Face layout (config.json, model.safetensors, tokenizer.json) and"
                    + " loads without peft4j's adapters."
        })
public final class MergeCommand implements Callable<Integer> {

    @Mixin ModelOptions modelOptions;

    @Option(
            names = "--adapter",
            required = true,
            paramLabel = "<dir>",
            description = "Adapter folder.")
    Path adapter;

    @Option(
            names = "--task",
            paramLabel = "classify|causal-lm|base",
            description =
                    "What the base model is built as. Default: the adapter's task, else the model's"
                            + " (causal-lm for a decoder, classify for a BERT classifier, base for a bare encoder).")
    String task;

    @Option(
            names = "--num-labels",
            paramLabel = "<n>",
            description = "Classes of a classifier (default: the adapter's).")
    Integer numLabels;

    @Option(
            names = "--out",
            required = true,
            paramLabel = "<dir>",
            description = "Folder for the merged checkpoint.")
    Path out;

    @Option(
            names = "--json",
            description =
                    "Print the result as one JSON object on stdout (the other lines go to stderr).")
    boolean json;

    PrintStream stdout = System.out;

    @Override
    public Integer call() throws IOException {
        ModelOptions.checkAdapter(adapter);
        JsonObject info = RunInfo.read(adapter);
        Task t = TaskChoice.choose(task, adapter, modelOptions.model, true);
        PrintStream jsonOut = stdout;
        if (json) {
            stdout = System.err; // the human-readable line; stdout carries only the JSON
        }
        int labels =
                Labels.check(
                        numLabels != null ? numLabels : RunInfo.intOr(info, "num_labels", 2),
                        numLabels != null
                                ? "--num-labels"
                                : adapter + "/" + RunInfo.FILE + " \"num_labels\"");
        if (Files.exists(out.resolve("model.safetensors"))) {
            throw new UserError(
                    "--out " + out + " already holds a model.safetensors; choose an empty folder");
        }
        try (LoadedModel m =
                Models.load(
                        modelOptions.model,
                        t,
                        labels,
                        0,
                        modelOptions.device(),
                        modelOptions.tokenizer,
                        modelOptions.config,
                        0)) {
            PeftModel peft = Adapters.load(m, adapter);
            Block merged;
            try {
                merged = peft.mergeAndUnload();
            } catch (ArithmeticException | UnsupportedOperationException e) {
                throw new UserError(
                        "cannot merge " + adapter + " into " + m.name() + ": " + e.getMessage());
            }
            if (merged instanceof LlamaForCausalLM
                    && ((LlamaForCausalLM) merged).config().tieWordEmbeddings()) {
                ((LlamaForCausalLM) merged).tieWeights();
            }
            HfCheckpoint.save(merged, out);
            Path tokenizer =
                    modelOptions.tokenizer != null ? modelOptions.tokenizer : tokenizerOf();
            if (tokenizer != null && Files.isRegularFile(tokenizer)) {
                Files.copy(
                        tokenizer,
                        out.resolve("tokenizer.json"),
                        StandardCopyOption.REPLACE_EXISTING);
            }
            stdout.println(
                    "Merged "
                            + adapter
                            + " into "
                            + m.name()
                            + " ("
                            + Models.kind(merged)
                            + "); wrote "
                            + out.toAbsolutePath().normalize()
                            + " (config.json, model.safetensors, tokenizer.json)");
            if (json) {
                JsonObject result = new JsonObject();
                result.addProperty("task", t.flag());
                result.addProperty("model", m.name());
                result.addProperty("adapter", adapter.toString());
                result.addProperty("merged", Models.kind(merged));
                result.addProperty("out", out.toAbsolutePath().normalize().toString());
                JsonOutput.print(jsonOut, result);
            }
        }
        return 0;
    }

    private Path tokenizerOf() {
        if (modelOptions.model.equals(Models.MINILM)) {
            return Models.extractMiniLm().resolve("all-minilm-l6-v2-tokenizer.json");
        }
        Path p = Path.of(modelOptions.model);
        return Files.isDirectory(p)
                ? p.resolve("tokenizer.json")
                : p.toAbsolutePath().getParent().resolve("tokenizer.json");
    }
}
