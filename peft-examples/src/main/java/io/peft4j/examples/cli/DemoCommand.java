package io.peft4j.examples.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Unmatched;

/**
 * {@code peft4j demo}: the README's run command. LoRA on all-MiniLM-L6-v2 (from Maven) for
 * sentiment classification of the bundled sentences: {@code train} with preset arguments, which any
 * {@code train} option given here overrides.
 */
@Command(
        showDefaultValues = true,
        name = "demo",
        mixinStandardHelpOptions = true,
        // the first paragraph is the one-line summary in 'peft4j --help'; picocli wraps each
        // paragraph
        description = {
            "The default run: LoRA on all-MiniLM-L6-v2 for sentence sentiment, before/after accuracy.",
            "Fine-tunes all-MiniLM-L6-v2 (ONNX from Maven) with LoRA on query,value plus the classifier"
                    + " (modules_to_save) on the bundled sentiment sentences (240 train / 82 held out), then writes"
                    + " the adapter, loss.csv and loss.png to runs/minilm-sentiment.",
            "It runs 'train' with these arguments; any train option given here overrides them: "
                    + DemoCommand.PRESET_TEXT
        })
public final class DemoCommand implements Callable<Integer> {

    static final String TRAIN = "sentiment-train.tsv";
    static final String TEST = "sentiment-test.tsv";
    static final List<String> PRESET =
            List.of(
                    "--model",
                    Models.MINILM,
                    "--task",
                    "classify",
                    "--rank",
                    "8",
                    "--alpha",
                    "16",
                    "--dropout",
                    "0.1",
                    "--targets",
                    "query,value",
                    "--modules-to-save",
                    "classifier",
                    "--epochs",
                    "8",
                    "--lr",
                    "1e-3",
                    "--batch-size",
                    "16",
                    "--max-length",
                    "48",
                    "--seed",
                    "42",
                    "--out",
                    "runs/minilm-sentiment");
    static final String PRESET_TEXT =
            "--model minilm --task classify --rank 8 --alpha 16 --dropout 0.1"
                    + " --targets query,value --modules-to-save classifier --epochs 8 --lr 1e-3 --batch-size 16"
                    + " --max-length 48 --seed 42 --out runs/minilm-sentiment"
                    + " --train <bundled sentiment-train.tsv> --dev <bundled sentiment-test.tsv>";

    @Unmatched List<String> overrides = new ArrayList<>();

    @Override
    public Integer call() throws IOException {
        Path data = Files.createTempDirectory("peft4j-sentiment");
        try {
            List<String> args = withoutOverridden(PRESET, overrides);
            args.addAll(
                    List.of(
                            "--train",
                            extract(TRAIN, data).toString(),
                            "--dev",
                            extract(TEST, data).toString()));
            args.addAll(overrides);
            TrainCommand train = new TrainCommand();
            CommandLine cl = new CommandLine(train);
            cl.parseArgs(args.toArray(new String[0]));
            System.err.println(
                    "peft4j demo: LoRA on all-MiniLM-L6-v2 for sentence sentiment (see 'demo --help')");
            return train.call();
        } finally {
            for (String name : new String[] {TRAIN, TEST}) {
                Files.deleteIfExists(data.resolve(name));
            }
            Files.deleteIfExists(data);
        }
    }

    /** The preset (option, value pairs) minus the options the user gives again. */
    static List<String> withoutOverridden(List<String> preset, List<String> overrides) {
        java.util.Set<String> given = new java.util.HashSet<>();
        for (String o : overrides) {
            if (o.startsWith("--")) {
                given.add(o.contains("=") ? o.substring(0, o.indexOf('=')) : o);
            }
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i + 1 < preset.size(); i += 2) {
            if (!given.contains(preset.get(i))) {
                out.add(preset.get(i));
                out.add(preset.get(i + 1));
            }
        }
        return out;
    }

    /** Copies a bundled data file out of the jar. */
    static Path extract(String name, Path dir) throws IOException {
        Path target = dir.resolve(name);
        try (InputStream in =
                DemoCommand.class.getResourceAsStream("/io/peft4j/examples/data/" + name)) {
            if (in == null) {
                throw new IllegalStateException(
                        "bundled data " + name + " is missing from the class path");
            }
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
        return target;
    }
}
