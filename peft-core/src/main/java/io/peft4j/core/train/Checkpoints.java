package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import io.peft4j.core.io.AtomicFiles;
import io.peft4j.core.io.FolderSwap;
import io.peft4j.core.io.SafetensorsFile;
import io.peft4j.core.io.SafetensorsWriter;
import io.peft4j.core.io.TensorInfo;
import java.io.BufferedOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * Reads and writes training checkpoints.
 *
 * <pre>
 * checkpointDir/
 *   latest                 the name of the newest step directory, e.g. "step-200"
 *   step-200/
 *     trainer_state.json   step, epoch, seed, config, loss history, evaluations
 *     trainable.safetensors     the trainable tensors by name
 *     optimizer.safetensors     the optimiser state by name
 * </pre>
 *
 * <p>A step directory is replaced as a whole ({@link FolderSwap}: written beside, swapped in by
 * renames, an interrupted swap repaired on the next access) and {@code latest} is replaced
 * atomically after it, so a crash leaves either the previous checkpoint or the new one, never half
 * of one.
 */
final class Checkpoints {

    static final String LATEST = "latest";
    static final String STATE_FILE = "trainer_state.json";
    static final String PARAMS_FILE = "trainable.safetensors";
    static final String OPTIMIZER_FILE = "optimizer.safetensors";
    static final int FORMAT = 1;

    private static final Pattern STEP_DIR = Pattern.compile("step-\\d+");
    private static final Gson GSON =
            new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create();

    private Checkpoints() {}

    /** The settings a checkpoint records; those that fix the data order are checked on resume. */
    record Config(
            float learningRate,
            String schedule,
            long totalSteps,
            int batchSize,
            int gradientAccumulation,
            float maxGradNorm,
            boolean shuffle,
            int datasetSize,
            String optimizer) {}

    /** The contents of {@code trainer_state.json}. */
    record State(
            int format,
            long step,
            double epoch,
            long seed,
            long examples,
            Config config,
            List<String> parameters,
            List<Float> losses,
            List<Evaluation> evaluations) {}

    static String stepDirName(long step) {
        return "step-" + step;
    }

    /**
     * Writes a checkpoint as {@code root/step-<n>} and points {@code latest} at it.
     *
     * @return the step directory
     */
    static Path write(
            Path root, State state, Map<String, NDArray> params, Map<String, NDArray> optimizer)
            throws IOException {
        Files.createDirectories(root);
        Path target = root.resolve(stepDirName(state.step()));
        // the step folder is replaced as a whole (a rerun from an earlier checkpoint rewrites it):
        // written beside, swapped in by renames, a leftover of a crash repaired on the next access
        FolderSwap.replace(
                target,
                tmp -> {
                    writeFile(
                            tmp.resolve(STATE_FILE),
                            out -> out.write(GSON.toJson(state).getBytes(StandardCharsets.UTF_8)));
                    writeTensors(tmp.resolve(PARAMS_FILE), params);
                    writeTensors(tmp.resolve(OPTIMIZER_FILE), optimizer);
                });
        AtomicFiles.writeString(root.resolve(LATEST), target.getFileName().toString());
        return target;
    }

    /**
     * Finds the step directory to resume from: {@code dir} itself when it holds a checkpoint, else
     * the one its {@code latest} file names.
     */
    static Path resolve(Path dir) throws IOException {
        if (Files.isRegularFile(dir.resolve(STATE_FILE))) {
            return dir;
        }
        Path pointer = dir.resolve(LATEST);
        checkArgument(
                Files.isRegularFile(pointer),
                "no checkpoint in %s: expected a '%s' file or a '%s' file",
                dir,
                LATEST,
                STATE_FILE);
        String name = Files.readString(pointer, StandardCharsets.UTF_8).trim();
        checkArgument(
                STEP_DIR.matcher(name).matches(),
                "%s names '%s', expected a directory name like step-<n>",
                pointer,
                name);
        Path stepDir = FolderSwap.readable(dir.resolve(name));
        checkArgument(
                Files.isRegularFile(stepDir.resolve(STATE_FILE)),
                "%s names %s, which holds no %s",
                pointer,
                stepDir,
                STATE_FILE);
        return stepDir;
    }

    static State readState(Path stepDir) throws IOException {
        stepDir = FolderSwap.readable(stepDir);
        Path file = stepDir.resolve(STATE_FILE);
        State state;
        try {
            state = GSON.fromJson(Files.readString(file, StandardCharsets.UTF_8), State.class);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException("cannot parse " + file + ": " + e.getMessage(), e);
        }
        checkArgument(state != null, "%s is empty", file);
        checkArgument(
                state.format() == FORMAT,
                "%s has checkpoint format %s, this version reads format %s",
                file,
                state.format(),
                FORMAT);
        checkArgument(
                state.config() != null && state.parameters() != null && state.losses() != null,
                "%s lacks config, parameters or losses",
                file);
        checkArgument(
                state.losses().size() == state.step(),
                "%s records step %s but %s losses",
                file,
                state.step(),
                state.losses().size());
        return state;
    }

    /**
     * Reads the trainable tensors, after checking from the file's header alone that it holds no
     * tensor the model does not train and no shape other than the model's: a damaged or foreign
     * checkpoint is refused before any of its bytes are allocated.
     */
    static Map<String, NDArray> readParams(
            NDManager manager, Path stepDir, Map<String, Shape> expected) throws IOException {
        Path file = stepDir.resolve(PARAMS_FILE);
        return readTensors(
                manager,
                file,
                info -> {
                    Shape want = expected.get(info.name());
                    checkArgument(
                            want != null,
                            "checkpoint file %s holds tensor '%s', which the model does not train (it trains %s)",
                            file,
                            info.name(),
                            expected.keySet());
                    Shape found = new Shape(info.shape());
                    checkArgument(
                            found.equals(want),
                            "checkpoint file %s: tensor '%s' has shape %s, the model's is %s",
                            file,
                            info.name(),
                            found,
                            want);
                },
                Long.MAX_VALUE);
    }

    /**
     * Reads the optimiser state, after checking from the file's header alone that it holds at most
     * {@code maxElements} values in all (the caller's budget: a few per trainable value).
     */
    static Map<String, NDArray> readOptimizer(NDManager manager, Path stepDir, long maxElements)
            throws IOException {
        return readTensors(manager, stepDir.resolve(OPTIMIZER_FILE), info -> {}, maxElements);
    }

    // The two tensor-IO methods below are the only place that knows the file format: safetensors,
    // the same strict reader and writer adapters use.

    private static void writeTensors(Path file, Map<String, NDArray> tensors) throws IOException {
        SafetensorsWriter.write(file, tensors, Map.of("peft4j", "checkpoint"));
    }

    private static Map<String, NDArray> readTensors(
            NDManager manager, Path file, Consumer<TensorInfo> headerCheck, long maxElements)
            throws IOException {
        checkArgument(Files.isRegularFile(file), "missing checkpoint file %s", file);
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            long elements = 0;
            for (String name : st.names()) {
                TensorInfo info = st.info(name);
                headerCheck.accept(info);
                long n = 1;
                for (long d : info.shape()) {
                    n = Math.multiplyExact(n, d);
                }
                elements = Math.addExact(elements, n);
                checkArgument(
                        elements <= maxElements,
                        "checkpoint file %s holds more than %s values (at tensor '%s'); this run's optimiser state needs at most that",
                        file,
                        maxElements,
                        name);
            }
            for (String name : st.names()) {
                tensors.put(name, st.load(name, manager));
            }
        }
        return tensors;
    }

    /** Writes a file and forces it to disk before the caller renames anything over it. */
    private static void writeFile(Path file, IoWriter writer) throws IOException {
        try (FileOutputStream fos = new FileOutputStream(file.toFile());
                BufferedOutputStream out = new BufferedOutputStream(fos, 1 << 16)) {
            writer.write(out);
            out.flush();
            fos.getFD().sync();
        }
    }

    @FunctionalInterface
    private interface IoWriter {
        void write(OutputStream out) throws IOException;
    }
}
