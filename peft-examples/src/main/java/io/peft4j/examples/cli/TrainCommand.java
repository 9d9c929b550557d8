package io.peft4j.examples.cli;

import com.google.gson.JsonObject;
import io.peft4j.core.PeftMethods;
import io.peft4j.core.PeftModel;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.PeftMethod;
import io.peft4j.core.train.Evaluation;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.LossFunction;
import io.peft4j.core.train.LrSchedule;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import io.peft4j.tasks.CausalLmTask;
import io.peft4j.tasks.ClassificationTask;
import io.peft4j.tasks.DataReaders;
import io.peft4j.tasks.LabeledText;
import io.peft4j.tasks.TextExample;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code peft4j train}: fine-tunes a model with a PEFT method and saves the adapter. */
@Command(
        showDefaultValues = true,
        name = "train",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Fine-tunes a model with a PEFT method and saves the adapter.",
            "The base stays frozen. Measures the held-out split before and after, and writes the adapter"
                    + " (Hugging Face peft layout), loss.csv, loss.png and training_run.json into --out."
        })
public final class TrainCommand implements Callable<Integer> {

    @Option(
            names = "--method",
            defaultValue = "lora",
            paramLabel = "<method>",
            completionCandidates = MethodNames.class,
            description =
                    "PEFT method, one of those on the class path: ${COMPLETION-CANDIDATES}"
                            + " (each method's module adds its own).")
    String method;

    @Mixin ModelOptions modelOptions;

    @Option(
            names = "--task",
            paramLabel = "classify|causal-lm",
            description =
                    "Default: the model's (causal-lm for a decoder, classify for an encoder).")
    String task;

    @Option(
            names = "--train",
            required = true,
            paramLabel = "<file>",
            description =
                    "Training data: classify: .tsv (header sentence<TAB>label) or .jsonl"
                            + " (text, label); causal-lm: .txt, .jsonl or .json (text, or instruction/output).")
    Path train;

    @Option(
            names = "--dev",
            paramLabel = "<file>",
            description = "Held-out data, same formats (default: the last --dev-split of --train).")
    Path dev;

    @Option(
            names = "--dev-split",
            defaultValue = "0.1",
            paramLabel = "<fraction>",
            description = "Held-out fraction taken from --train when there is no --dev.")
    double devSplit;

    @Option(
            names = "--train-limit",
            paramLabel = "<n>",
            description = "Train on a seeded random subset of this many examples.")
    Integer trainLimit;

    @Option(
            names = "--dev-limit",
            paramLabel = "<n>",
            description = "Evaluate on a seeded random subset of this many held-out examples.")
    Integer devLimit;

    @Option(
            names = "--num-labels",
            paramLabel = "<n>",
            description =
                    "Classes of the classifier head (default: largest label in the data + 1).")
    Integer numLabels;

    @Option(names = "--rank", defaultValue = "8", description = "Adapter rank r.")
    int rank;

    @Option(names = "--alpha", defaultValue = "16", description = "Scaling alpha.")
    float alpha;

    @Option(names = "--dropout", defaultValue = "0.05", description = "Adapter dropout.")
    float dropout;

    @Option(
            names = "--targets",
            split = ",",
            paramLabel = "<module>",
            description =
                    "Target modules: names, 're:<regex>' or 'all-linear' (default: query,value for"
                            + " classify; q_proj,v_proj for causal-lm).")
    List<String> targets;

    @Option(
            names = "--modules-to-save",
            split = ",",
            paramLabel = "<module>",
            description =
                    "Modules trained in full and saved with the adapter (default: classifier for"
                            + " classify, none for causal-lm; 'none' for none).")
    List<String> modulesToSave;

    @Option(
            names = "--set",
            paramLabel = "key=value",
            description =
                    "Extra adapter_config.json key for the method (value parsed as JSON when it is).")
    List<String> extra = new ArrayList<>();

    @Option(names = "--epochs", defaultValue = "1", description = "Passes over the data.")
    int epochs;

    @Option(
            names = "--steps",
            paramLabel = "<n>",
            description = "Optimiser steps (overrides --epochs).")
    Long steps;

    @Option(names = "--lr", defaultValue = "5e-4", description = "Peak learning rate.")
    double lr;

    @Option(names = "--batch-size", defaultValue = "16", description = "Examples per micro-batch.")
    int batchSize;

    @Option(
            names = "--grad-accum",
            defaultValue = "1",
            description = "Micro-batches per optimiser step.")
    int gradAccum;

    @Option(
            names = "--warmup",
            paramLabel = "<steps>",
            description = "Linear warm-up steps (default: 6%% of the steps), then linear decay.")
    Long warmup;

    @Option(
            names = "--max-length",
            defaultValue = "128",
            description = "Tokens per example (classify: truncation; causal-lm: block size).")
    int maxLength;

    @Option(
            names = "--seed",
            defaultValue = "42",
            description =
                    "Seeds the adapter initialisation, data order, dropout and the held-out split.")
    long seed;

    @Option(
            names = "--out",
            paramLabel = "<dir>",
            description = "Output folder (default: runs/<task>-<method>).")
    Path out;

    @Option(
            names = "--resume",
            paramLabel = "<dir>",
            description =
                    "Continue from a checkpoint (a step folder or a checkpoints folder of an earlier run).")
    Path resume;

    @Option(
            names = "--override",
            description =
                    "With --resume: continue even if --lr, --steps, --warmup or the clipping differ from the checkpoint's.")
    boolean override;

    @Option(
            names = "--save-every",
            defaultValue = "0",
            paramLabel = "<steps>",
            description =
                    "Checkpoint every n steps into <out>/checkpoints (the last step is always saved).")
    long saveEvery;

    @Option(
            names = "--eval-every",
            defaultValue = "0",
            paramLabel = "<steps>",
            description =
                    "Evaluate on the held-out split every n steps (0: only before and after).")
    long evalEvery;

    @Option(
            names = "--eval-batch-size",
            defaultValue = "64",
            description = "Examples per batch when evaluating.")
    int evalBatchSize;

    @Option(
            names = "--json",
            description =
                    "Print the result as one JSON object on stdout (the other lines go to stderr).")
    boolean json;

    PrintStream stdout = System.out;

    /** Where --json writes training_run.json's content (the real stdout). */
    private PrintStream jsonOut;

    @Override
    public Integer call() throws IOException {
        Task t = TaskChoice.choose(task, null, modelOptions.model, false);
        jsonOut = stdout;
        if (json) {
            stdout = System.err; // the human-readable report; stdout carries only the JSON
        }
        if (t == Task.BASE) {
            throw new UserError("--task must be classify or causal-lm for training");
        }
        checkPositive("--rank", rank);
        checkPositive("--epochs", epochs);
        checkPositive("--batch-size", batchSize);
        checkPositive("--grad-accum", gradAccum);
        checkPositive("--max-length", maxLength);
        checkPositive("--eval-batch-size", evalBatchSize);
        if (!(lr > 0) || Double.isInfinite(lr)) {
            throw new UserError("--lr must be > 0, got " + lr);
        }
        if (steps != null && steps < 1) {
            throw new UserError("--steps must be >= 1, got " + steps);
        }
        if (resume != null && !Files.exists(resume)) {
            throw new UserError("--resume " + resume + ": no such checkpoint folder");
        }
        if (resume != null && !Files.isDirectory(resume)) {
            throw new UserError(
                    "--resume "
                            + resume
                            + ": not a folder (give a step folder or a checkpoints folder)");
        }
        checkInput("--train", train);
        if (dev != null) {
            checkInput("--dev", dev);
        }
        PeftMethod peftMethod = Methods.find(method);
        Path outDir =
                out != null
                        ? out
                        : Path.of("runs", t.flag() + "-" + method.toLowerCase(Locale.ROOT));
        OutputFolder.check(outDir, out != null ? "--out" : "the output folder");
        List<String> targetList =
                targets != null
                        ? targets
                        : t == Task.CLASSIFY
                                ? List.of("query", "value")
                                : List.of("q_proj", "v_proj");
        List<String> saveList =
                modulesToSave != null
                        ? (modulesToSave.equals(List.of("none")) ? List.of() : modulesToSave)
                        : t == Task.CLASSIFY ? List.of("classifier") : List.of();
        AdapterConfig config =
                Methods.config(
                        peftMethod,
                        rank,
                        alpha,
                        dropout,
                        targetList,
                        saveList,
                        t == Task.CLASSIFY ? "SEQ_CLS" : "CAUSAL_LM",
                        extra,
                        w -> System.err.println("warning: " + w));

        return t == Task.CLASSIFY ? classify(config, outDir) : causal(config, outDir);
    }

    private int classify(AdapterConfig config, Path outDir) throws IOException {
        List<LabeledText> trainAll = DataReaders.readLabeled(train);
        List<LabeledText> devAll;
        if (dev != null) {
            devAll = DataReaders.readLabeled(dev);
        } else {
            List<List<LabeledText>> split =
                    DataReaders.splitTail(
                            DataReaders.sample(trainAll, trainAll.size(), seed), devSplit);
            trainAll = split.get(0);
            devAll = split.get(1);
        }
        List<LabeledText> trainSet =
                trainLimit != null ? DataReaders.sample(trainAll, trainLimit, seed) : trainAll;
        List<LabeledText> devSet =
                devLimit != null ? DataReaders.sample(devAll, devLimit, seed + 1) : devAll;
        int labels =
                numLabels != null
                        ? Labels.check(numLabels, "--num-labels")
                        : Labels.check(
                                Math.max(
                                        ClassificationTask.numLabels(trainSet),
                                        ClassificationTask.numLabels(devSet)),
                                "the number of classes (largest label + 1)");
        if (numLabels != null) {
            Labels.checkBelow(trainSet, labels, "--num-labels");
            Labels.checkBelow(devSet, labels, "--num-labels");
        }
        checkBatch(trainSet.size());
        stdout.printf(
                Locale.ROOT,
                "Data: %d training examples (%s), %d held-out (%s), %d classes%n",
                trainSet.size(),
                train,
                devSet.size(),
                dev != null ? dev : "last " + devSplit + " of --train",
                labels);
        long start = System.nanoTime();
        try (LoadedModel m =
                Models.load(
                        modelOptions.model,
                        Task.CLASSIFY,
                        labels,
                        maxLength,
                        modelOptions.device(),
                        modelOptions.tokenizer,
                        modelOptions.config,
                        seed)) {
            stdout.printf(
                    Locale.ROOT,
                    "Model: %s (%s) loaded in %.1f s%n",
                    m.name(),
                    Models.kind(m.block()),
                    (System.nanoTime() - start) / 1e9);
            ClassificationTask trainTask =
                    new ClassificationTask(m.block(), m.tokenizer(), trainSet, labels);
            ClassificationTask devTask =
                    new ClassificationTask(m.block(), m.tokenizer(), devSet, labels);
            ClassificationTask.Metrics before = devTask.evaluate(evalBatchSize);
            stdout.printf(
                    Locale.ROOT,
                    "Held-out accuracy before fine-tuning: %.4f (loss %.4f, %d examples)%n",
                    before.accuracy(),
                    before.loss(),
                    before.examples());
            try (PeftModel peft = wrap(m, config)) {
                TrainingResult result =
                        fit(
                                peft,
                                trainTask,
                                trainTask,
                                (step, model, mgr) -> {
                                    ClassificationTask.Metrics e = devTask.evaluate(evalBatchSize);
                                    return Map.of(
                                            "eval_accuracy", e.accuracy(), "eval_loss", e.loss());
                                },
                                outDir);
                ClassificationTask.Metrics after = devTask.evaluate(evalBatchSize);
                stdout.printf(
                        Locale.ROOT,
                        "Held-out accuracy after fine-tuning:  %.4f (loss %.4f)%n",
                        after.accuracy(),
                        after.loss());
                JsonObject info = info(Task.CLASSIFY, peft, result, trainSet.size(), devSet.size());
                info.addProperty("num_labels", labels);
                info.add("before", metrics("accuracy", before.accuracy(), "loss", before.loss()));
                info.add("after", metrics("accuracy", after.accuracy(), "loss", after.loss()));
                save(peft, result, outDir, info, "classification");
            }
        }
        return 0;
    }

    private int causal(AdapterConfig config, Path outDir) throws IOException {
        if (maxLength < 2) {
            throw new UserError(
                    "--max-length must be >= 2 for causal-lm (a block needs a token and its successor), got "
                            + maxLength);
        }
        List<TextExample> trainAll = DataReaders.readText(train);
        List<TextExample> devAll;
        if (dev != null) {
            devAll = DataReaders.readText(dev);
        } else {
            List<List<TextExample>> split = DataReaders.splitTail(trainAll, devSplit);
            trainAll = split.get(0);
            devAll = split.get(1);
        }
        List<TextExample> trainSet =
                trainLimit != null ? DataReaders.sample(trainAll, trainLimit, seed) : trainAll;
        List<TextExample> devSet =
                devLimit != null ? DataReaders.sample(devAll, devLimit, seed + 1) : devAll;
        long start = System.nanoTime();
        try (LoadedModel m =
                Models.load(
                        modelOptions.model,
                        Task.CAUSAL_LM,
                        0,
                        0,
                        modelOptions.device(),
                        modelOptions.tokenizer,
                        modelOptions.config,
                        seed)) {
            stdout.printf(
                    Locale.ROOT,
                    "Model: %s (%s) loaded in %.1f s%n",
                    m.name(),
                    Models.kind(m.block()),
                    (System.nanoTime() - start) / 1e9);
            CausalLmTask trainTask =
                    new CausalLmTask(m.block(), m.tokenizer(), trainSet, maxLength, m.eosTokenId());
            CausalLmTask devTask =
                    new CausalLmTask(m.block(), m.tokenizer(), devSet, maxLength, m.eosTokenId());
            checkBatch(trainTask.size());
            stdout.printf(
                    Locale.ROOT,
                    "Data: %d training sequences of up to %d tokens (%d scored tokens) from %s;"
                            + " held out: %d sequences (%d tokens) from %s%n",
                    trainTask.size(),
                    maxLength,
                    trainTask.scoredTokens(),
                    train,
                    devTask.size(),
                    devTask.scoredTokens(),
                    dev != null ? dev : "the last " + devSplit + " of --train");
            CausalLmTask.Metrics before = devTask.evaluate(evalBatchSize);
            stdout.printf(
                    Locale.ROOT,
                    "Held-out NLL before fine-tuning: %.4f nats/token (perplexity %.2f)%n",
                    before.nll(),
                    before.perplexity());
            try (PeftModel peft = wrap(m, config)) {
                TrainingResult result =
                        fit(
                                peft,
                                trainTask,
                                trainTask,
                                (step, model, mgr) ->
                                        Map.of("eval_nll", devTask.evaluate(evalBatchSize).nll()),
                                outDir);
                CausalLmTask.Metrics after = devTask.evaluate(evalBatchSize);
                stdout.printf(
                        Locale.ROOT,
                        "Held-out NLL after fine-tuning:  %.4f nats/token (perplexity %.2f)%n",
                        after.nll(),
                        after.perplexity());
                JsonObject info =
                        info(Task.CAUSAL_LM, peft, result, trainTask.size(), devTask.size());
                info.addProperty("block_size", maxLength);
                info.add("before", metrics("nll", before.nll(), "perplexity", before.perplexity()));
                info.add("after", metrics("nll", after.nll(), "perplexity", after.perplexity()));
                save(peft, result, outDir, info, "causal LM");
            }
        }
        return 0;
    }

    private PeftModel wrap(LoadedModel m, AdapterConfig config) {
        PeftModel peft;
        try {
            peft = PeftModel.wrap(m.block(), config);
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            throw new UserError(
                    "cannot add a "
                            + config.peftType()
                            + " adapter to "
                            + m.name()
                            + " ("
                            + Models.kind(m.block())
                            + "): "
                            + e.getMessage());
        }
        peft.baseModelName(m.name());
        stdout.println(peft.trainableSummary());
        return peft;
    }

    /** The optimiser's state size after the last step (for training_run.json). */
    private long optimizerStateBytes;

    private TrainingResult fit(
            PeftModel peft,
            TrainingData data,
            LossFunction loss,
            io.peft4j.core.train.EvalCallback eval,
            Path outDir) {
        long stepsPerEpoch = (data.size() / batchSize) / gradAccum;
        if (stepsPerEpoch < 1 && steps == null) {
            throw new UserError(
                    "--batch-size "
                            + batchSize
                            + " x --grad-accum "
                            + gradAccum
                            + " is more than the "
                            + data.size()
                            + " training examples");
        }
        long total = steps != null ? steps : epochs * stepsPerEpoch;
        long warm = warmup != null ? warmup : Math.round(total * 0.06);
        if (warm < 0 || warm > total) {
            throw new UserError("--warmup must be in [0, " + total + "], got " + warm);
        }
        Path checkpoints = outDir.resolve("checkpoints");
        FineTuner.Builder b =
                FineTuner.builder()
                        .learningRate(lr)
                        .schedule(LrSchedule.Kind.LINEAR)
                        .warmupSteps(warm)
                        .batchSize(batchSize)
                        .gradientAccumulation(gradAccum)
                        .seed(seed)
                        .checkpointDir(checkpoints)
                        .allowChangedSettings(override);
        if (steps != null) {
            b.maxSteps(steps);
        } else {
            b.epochs(epochs);
        }
        if (saveEvery > 0) {
            b.checkpointEvery(saveEvery);
        }
        // each method trains with its own optimiser and clipping (LIFT: its sparse Adam, which
        // also refreshes the masks every T steps, unclipped); every optimiser reports its state
        // size for training_run.json
        PeftMethod trained = PeftMethods.forConfig(peft.config(peft.activeAdapter()));
        trained.maxGradNorm().ifPresent(b::maxGradNorm);
        b.optimizer(
                () ->
                        new MeasuredOptimizer(
                                trained.newOptimizer(peft), bytes -> optimizerStateBytes = bytes));
        if (evalEvery > 0) {
            b.evaluation(evalEvery, eval);
        }
        stdout.printf(
                Locale.ROOT,
                "Training: %d steps, batch %d x %d, lr %.2g (warm-up %d, linear decay), seed %d%n",
                total,
                batchSize,
                gradAccum,
                lr,
                warm,
                seed);
        FineTuner tuner = b.build();
        TrainingResult result;
        if (resume != null) {
            try {
                result = tuner.resume(resume, peft, loss, data);
            } catch (IllegalArgumentException e) {
                throw new UserError(
                        "--resume "
                                + resume
                                + ": "
                                + e.getMessage()
                                + (e.getMessage().contains("was written with")
                                        ? " (the flags: --lr, --steps/--epochs, --warmup,"
                                                + " --batch-size, --grad-accum, --seed, --train; --override accepts a changed --lr/--steps/--warmup)"
                                        : ""));
            }
        } else {
            result = tuner.fit(peft, loss, data);
        }
        for (Evaluation e : result.evaluations()) {
            stdout.printf(Locale.ROOT, "  step %d: %s%n", e.step(), e.metrics());
        }
        stdout.printf(
                Locale.ROOT,
                "Trained %d steps in %.1f s: loss %.4f -> %.4f%n",
                result.steps() - result.startStep(),
                result.seconds(),
                result.losses().get(0),
                result.finalLoss());
        return result;
    }

    private JsonObject info(
            Task t, PeftModel peft, TrainingResult result, int trainSize, int devSize) {
        JsonObject info = new JsonObject();
        info.addProperty("task", t.flag());
        info.addProperty("model", modelOptions.model);
        info.addProperty("method", method.toLowerCase(Locale.ROOT));
        info.addProperty("max_length", maxLength);
        info.addProperty("train", train.toString());
        info.addProperty("dev", dev != null ? dev.toString() : "last " + devSplit + " of train");
        info.addProperty("train_examples", trainSize);
        info.addProperty("dev_examples", devSize);
        info.addProperty("trainable_parameters", peft.trainableSummary().trainable());
        info.addProperty("all_parameters", peft.trainableSummary().total());
        info.addProperty("optimizer_state_bytes", optimizerStateBytes);
        info.addProperty("steps", result.steps());
        info.addProperty("seconds", Math.round(result.seconds() * 10) / 10.0);
        info.addProperty("lr", lr);
        info.addProperty("batch_size", batchSize);
        info.addProperty("seed", seed);
        return info;
    }

    private void save(
            PeftModel peft, TrainingResult result, Path outDir, JsonObject info, String what)
            throws IOException {
        Files.createDirectories(outDir);
        peft.save(outDir);
        LossChart.writeCsv(outDir.resolve("loss.csv"), result.losses());
        LossChart.writePng(
                outDir.resolve("loss.png"),
                result.losses(),
                "peft4j " + method.toLowerCase(Locale.ROOT) + " " + what + ": training loss");
        RunInfo.write(outDir, info);
        if (json) {
            JsonObject printed = info.deepCopy();
            printed.addProperty("out", outDir.toAbsolutePath().normalize().toString());
            JsonOutput.print(jsonOut, printed);
        }
        stdout.println(
                "Saved the adapter (adapter_config.json, adapter_model.safetensors), loss.csv, loss.png"
                        + " and "
                        + RunInfo.FILE
                        + " to "
                        + outDir.toAbsolutePath().normalize());
    }

    private static JsonObject metrics(String k1, double v1, String k2, double v2) {
        JsonObject o = new JsonObject();
        o.addProperty(k1, Math.round(v1 * 1e6) / 1e6);
        o.addProperty(k2, Math.round(v2 * 1e6) / 1e6);
        return o;
    }

    private void checkBatch(int size) {
        if (size < batchSize * gradAccum && steps == null) {
            throw new UserError(
                    "--batch-size "
                            + batchSize
                            + " x --grad-accum "
                            + gradAccum
                            + " is more than the "
                            + size
                            + " training examples");
        }
        if (size < batchSize) {
            throw new UserError(
                    "--batch-size "
                            + batchSize
                            + " is more than the "
                            + size
                            + " training examples");
        }
    }

    /** A data file must be a regular file: a FIFO or device would block or never end. */
    private static void checkInput(String flag, Path file) {
        if (!Files.exists(file)) {
            throw new UserError(flag + " " + file + ": no such file");
        }
        if (!Files.isRegularFile(file)) {
            throw new UserError(
                    flag + " " + file + ": not a regular file (a folder, pipe or device)");
        }
    }

    private static void checkPositive(String name, long value) {
        if (value < 1) {
            throw new UserError(name + " must be >= 1, got " + value);
        }
    }

    /** The method names for the help text: those of the methods on the class path. */
    static final class MethodNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return Methods.NAMES.keySet().iterator();
        }
    }
}
