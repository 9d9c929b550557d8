package io.peft4j.examples.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.ParameterStore;
import com.google.common.base.Splitter;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.peft4j.core.PeftModel;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.models.BertForSequenceClassification;
import io.peft4j.models.LlamaForCausalLM;
import io.peft4j.models.TextTokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code peft4j forward}: the model's outputs for given inputs, as JSON. */
@Command(
        showDefaultValues = true,
        name = "forward",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Prints the model's outputs for texts or token ids as JSON.",
            "The output is the last hidden state (BERT, --task base), the class logits (--task classify) or"
                    + " the next-token logits (decoder), with or without an adapter. Rows of different lengths are"
                    + " right-padded and masked."
        })
public final class ForwardCommand implements Callable<Integer> {

    @Mixin ModelOptions modelOptions;

    @Option(
            names = "--adapter",
            paramLabel = "<dir>",
            description = "Adapter folder (omit: the base model).")
    Path adapter;

    @Option(
            names = "--task",
            paramLabel = "base|classify|causal-lm",
            description =
                    "Default: the adapter's task, else the model's (causal-lm for a decoder, classify for a"
                            + " BERT classifier checkpoint, base for a bare encoder).")
    String task;

    @Option(
            names = "--num-labels",
            paramLabel = "<n>",
            description = "Classes of a classifier (default: the adapter's, else 2).")
    Integer numLabels;

    @Option(names = "--max-length", defaultValue = "512", description = "Truncation.")
    int maxLength;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Inputs inputs;

    static final class Inputs {
        @Option(
                names = "--text",
                paramLabel = "<text>",
                description = "An input text (repeat for a batch).")
        List<String> texts;

        @Option(
                names = "--ids",
                paramLabel = "<id,id,...>",
                description = "Input token ids (repeat for a batch).")
        List<String> ids;
    }

    PrintStream stdout = System.out;

    @Override
    public Integer call() throws IOException {
        ModelOptions.checkAdapter(adapter);
        var info = RunInfo.read(adapter);
        Task t = TaskChoice.choose(task, adapter, modelOptions.model, true);
        int labels =
                Labels.check(
                        numLabels != null ? numLabels : RunInfo.intOr(info, "num_labels", 2),
                        numLabels != null
                                ? "--num-labels"
                                : adapter + "/" + RunInfo.FILE + " \"num_labels\"");
        try (LoadedModel m =
                        Models.load(
                                modelOptions.model,
                                t,
                                labels,
                                t == Task.CLASSIFY ? maxLength : 0,
                                modelOptions.device(),
                                modelOptions.tokenizer,
                                modelOptions.config,
                                0);
                PeftModel peft = Adapters.load(m, adapter)) {
            List<long[]> rows = new ArrayList<>();
            if (inputs.texts != null) {
                for (String text : inputs.texts) {
                    long[] ids = m.tokenizer().encode(text);
                    rows.add(
                            ids.length > maxLength ? java.util.Arrays.copyOf(ids, maxLength) : ids);
                }
            } else {
                for (String s : inputs.ids) {
                    rows.add(parseIds(s));
                }
            }
            long vocab = vocabSize(m);
            for (long[] row : rows) {
                for (long id : row) {
                    if (id < 0 || id >= vocab) {
                        throw new UserError(
                                "token id " + id + " is outside the vocabulary [0, " + vocab + ")");
                    }
                }
            }
            int width = rows.stream().mapToInt(r -> r.length).max().orElse(0);
            long[][] ids = new long[rows.size()][width];
            long[][] mask = new long[rows.size()][width];
            for (int b = 0; b < rows.size(); b++) {
                System.arraycopy(rows.get(b), 0, ids[b], 0, rows.get(b).length);
                java.util.Arrays.fill(mask[b], 0, rows.get(b).length, 1L);
            }
            JsonObject json = new JsonObject();
            json.addProperty("model", m.name());
            json.addProperty("adapter", adapter == null ? null : adapter.toString());
            json.add("input_ids", matrix(ids));
            json.add("attention_mask", matrix(mask));
            try (NoGrad off = NoGrad.enter();
                    NDManager manager =
                            NDManager.newBaseManager(m.model().getNDManager().getDevice())) {
                NDList in =
                        m.block() instanceof LlamaForCausalLM
                                ? new NDList(manager.create(ids), manager.create(mask))
                                : new TextTokenizer.Batch(ids, mask, new long[ids.length][width])
                                        .toNDList(manager);
                NDArray output =
                        m.block().forward(new ParameterStore(manager, false), in, false).head();
                json.addProperty(
                        "output",
                        m.block() instanceof LlamaForCausalLM
                                ? "logits"
                                : m.block() instanceof BertForSequenceClassification
                                        ? "logits"
                                        : "last_hidden_state");
                JsonArray shape = new JsonArray();
                for (long d : output.getShape().getShape()) {
                    shape.add(d);
                }
                json.add("shape", shape);
                float[] values = output.toType(DataType.FLOAT32, false).toFloatArray();
                for (float v : values) {
                    if (!Float.isFinite(v)) {
                        // JSON has no NaN/Inf: refuse instead of printing something no parser reads
                        throw new UserError(
                                m.name()
                                        + (adapter != null ? " + adapter " + adapter : "")
                                        + " produced a non-finite output ("
                                        + v
                                        + "): the model or adapter is broken");
                    }
                }
                json.add("values", nested(values, output.getShape().getShape(), 0, 0));
            }
            JsonOutput.print(stdout, json);
        }
        return 0;
    }

    private static long vocabSize(LoadedModel m) {
        if (m.block() instanceof LlamaForCausalLM) {
            return ((LlamaForCausalLM) m.block()).config().vocabSize();
        }
        if (m.block() instanceof BertForSequenceClassification) {
            return ((BertForSequenceClassification) m.block()).config().vocabSize();
        }
        return ((io.peft4j.models.BertModel) m.block()).config().vocabSize();
    }

    static long[] parseIds(String s) {
        List<String> parts = Splitter.on(Pattern.compile("[,\\s]+")).splitToList(s.trim());
        long[] ids = new long[parts.size()];
        for (int i = 0; i < parts.size(); i++) {
            try {
                ids[i] = Long.parseLong(parts.get(i));
            } catch (NumberFormatException e) {
                throw new UserError("--ids '" + s + "': '" + parts.get(i) + "' is not a token id");
            }
        }
        return ids;
    }

    private static JsonArray matrix(long[][] rows) {
        JsonArray a = new JsonArray();
        for (long[] row : rows) {
            JsonArray r = new JsonArray();
            for (long v : row) {
                r.add(v);
            }
            a.add(r);
        }
        return a;
    }

    /** Nests a flat row-major array by its shape; returns the next flat offset via recursion. */
    private static JsonArray nested(float[] flat, long[] shape, int dim, int offset) {
        JsonArray a = new JsonArray();
        long stride = 1;
        for (int d = dim + 1; d < shape.length; d++) {
            stride *= shape[d];
        }
        for (int i = 0; i < shape[dim]; i++) {
            int at = (int) (offset + i * stride);
            if (dim == shape.length - 1) {
                a.add(flat[at]);
            } else {
                a.add(nested(flat, shape, dim + 1, at));
            }
        }
        return a;
    }
}
