package io.peft4j.examples.cli;

import com.google.gson.JsonObject;
import io.peft4j.core.PeftModel;
import io.peft4j.tasks.CausalLmTask;
import io.peft4j.tasks.ClassificationTask;
import io.peft4j.tasks.DataReaders;
import io.peft4j.tasks.LabeledText;
import io.peft4j.tasks.TextExample;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code peft4j eval}: accuracy or held-out NLL of a model, with or without an adapter. */
@Command(
        showDefaultValues = true,
        name = "eval",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Measures a model, with or without an adapter, on a data file.",
            "Reports accuracy (classify) or mean next-token NLL and perplexity (causal-lm). Task, labels and"
                    + " max length default to the adapter's training_run.json; without one the task follows the model."
        })
public final class EvalCommand implements Callable<Integer> {

    @Mixin ModelOptions modelOptions;

    @Option(
            names = "--adapter",
            paramLabel = "<dir>",
            description = "Adapter folder (omit: the base model).")
    Path adapter;

    @Option(
            names = "--task",
            paramLabel = "classify|causal-lm",
            description =
                    "Default: the adapter's task, else the model's (causal-lm for a decoder, classify for an"
                            + " encoder).")
    String task;

    @Option(
            names = "--data",
            required = true,
            paramLabel = "<file>",
            description = "Data file (formats as for train).")
    Path data;

    @Option(
            names = "--limit",
            paramLabel = "<n>",
            description = "Evaluate a seeded random subset of this many examples.")
    Integer limit;

    @Option(
            names = "--num-labels",
            paramLabel = "<n>",
            description = "Classes (default: the adapter's, else from the data).")
    Integer numLabels;

    @Option(
            names = "--max-length",
            paramLabel = "<n>",
            description = "Default: the adapter's, else 128.")
    Integer maxLength;

    @Option(
            names = "--batch-size",
            defaultValue = "64",
            description = "Examples per forward batch.")
    int batchSize;

    @Option(
            names = "--seed",
            defaultValue = "42",
            description = "Seeds a new (untrained) head and --limit.")
    long seed;

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
        Task t = TaskChoice.choose(task, adapter, modelOptions.model, false);
        JsonObject result = new JsonObject();
        result.addProperty("task", t.flag());
        result.addProperty("model", modelOptions.model);
        result.addProperty("adapter", adapter == null ? null : adapter.toString());
        result.addProperty("data", data.toString());
        PrintStream jsonOut = stdout;
        if (json) {
            stdout = System.err; // the human-readable line; stdout carries only the JSON
        }
        int length = maxLength != null ? maxLength : RunInfo.intOr(info, "max_length", 128);
        if (length < 2 || batchSize < 1) {
            throw new UserError("--max-length must be >= 2 and --batch-size >= 1");
        }
        String with = adapter != null ? " + adapter " + adapter : " (no adapter)";
        if (t == Task.CLASSIFY) {
            List<LabeledText> examples = DataReaders.readLabeled(data);
            if (limit != null) {
                examples = DataReaders.sample(examples, limit, seed);
            }
            String origin =
                    numLabels != null
                            ? "--num-labels"
                            : info.has("num_labels")
                                    ? adapter.resolve(RunInfo.FILE) + " \"num_labels\""
                                    : "the number of classes";
            int labels =
                    Labels.check(
                            numLabels != null
                                    ? numLabels
                                    : RunInfo.intOr(
                                            info,
                                            "num_labels",
                                            ClassificationTask.numLabels(examples)),
                            origin);
            Labels.checkBelow(examples, labels, origin);
            try (LoadedModel m =
                            Models.load(
                                    modelOptions.model,
                                    t,
                                    labels,
                                    length,
                                    modelOptions.device(),
                                    modelOptions.tokenizer,
                                    modelOptions.config,
                                    seed);
                    PeftModel peft = Adapters.load(m, adapter)) {
                ClassificationTask.Metrics r =
                        new ClassificationTask(m.block(), m.tokenizer(), examples, labels)
                                .evaluate(batchSize);
                requireFinite(r.loss(), "loss", m.name() + with);
                stdout.printf(
                        Locale.ROOT,
                        "%s%s on %s: accuracy %.4f (%d examples), loss %.4f%n",
                        m.name(),
                        with,
                        data,
                        r.accuracy(),
                        r.examples(),
                        r.loss());
                result.addProperty("accuracy", r.accuracy());
                result.addProperty("loss", r.loss());
                result.addProperty("examples", r.examples());
                result.addProperty("num_labels", labels);
            }
        } else if (t == Task.CAUSAL_LM) {
            List<TextExample> examples = DataReaders.readText(data);
            if (limit != null) {
                examples = DataReaders.sample(examples, limit, seed);
            }
            try (LoadedModel m =
                            Models.load(
                                    modelOptions.model,
                                    t,
                                    0,
                                    0,
                                    modelOptions.device(),
                                    modelOptions.tokenizer,
                                    modelOptions.config,
                                    seed);
                    PeftModel peft = Adapters.load(m, adapter)) {
                CausalLmTask.Metrics r =
                        new CausalLmTask(m.block(), m.tokenizer(), examples, length, m.eosTokenId())
                                .evaluate(batchSize);
                requireFinite(r.nll(), "NLL", m.name() + with);
                stdout.printf(
                        Locale.ROOT,
                        "%s%s on %s: NLL %.4f nats/token, perplexity %.3f (%d tokens, blocks of %d)%n",
                        m.name(),
                        with,
                        data,
                        r.nll(),
                        r.perplexity(),
                        r.tokens(),
                        length);
                result.addProperty("nll", r.nll());
                result.addProperty("perplexity", r.perplexity());
                result.addProperty("tokens", r.tokens());
                result.addProperty("block_size", length);
            }
        } else {
            throw new UserError("--task must be classify or causal-lm for eval");
        }
        if (json) {
            JsonOutput.print(jsonOut, result);
        }
        return 0;
    }

    /** A NaN/Inf metric is a broken model or adapter, not a result to print. */
    static void requireFinite(double value, String what, String model) {
        if (!Double.isFinite(value)) {
            throw new UserError(
                    model
                            + " gave a non-finite "
                            + what
                            + " ("
                            + value
                            + "): the model or adapter"
                            + " produces NaN/Inf outputs on this data");
        }
    }
}
