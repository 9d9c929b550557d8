package io.peft4j.examples.cli;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.peft4j.core.PeftModel;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.models.GenerationConfig;
import io.peft4j.models.Generator;
import io.peft4j.models.LlamaForCausalLM;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code peft4j generate}: continues prompts with a decoder, with or without an adapter. */
@Command(
        showDefaultValues = true,
        name = "generate",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description =
                "Continues prompts with a decoder (LLaMA family), with or without an adapter.")
public final class GenerateCommand implements Callable<Integer> {

    @Mixin ModelOptions modelOptions;

    @Option(
            names = "--adapter",
            paramLabel = "<dir>",
            description = "Adapter folder (omit: the base model).")
    Path adapter;

    @Option(
            names = "--prompt",
            paramLabel = "<text>",
            defaultValue = "Once upon a time",
            description = "A prompt (repeat for several).")
    List<String> prompts;

    @Option(
            names = "--max-new-tokens",
            defaultValue = "60",
            description = "Tokens to generate after each prompt (fewer if EOS comes first).")
    int maxNewTokens;

    @Option(names = "--sample", description = "Sample instead of greedy decoding.")
    boolean sample;

    @Option(
            names = "--temperature",
            defaultValue = "1.0",
            description = "Softmax temperature when sampling.")
    double temperature;

    @Option(
            names = "--top-k",
            defaultValue = "0",
            description = "Sample only among the k most likely tokens (0: off).")
    int topK;

    @Option(
            names = "--top-p",
            defaultValue = "1.0",
            description =
                    "Nucleus sampling: keep the smallest set of tokens with this much probability.")
    double topP;

    @Option(names = "--seed", defaultValue = "42", description = "Seeds sampling.")
    long seed;

    @Option(
            names = "--json",
            description =
                    "Print the result as one JSON object on stdout (the other lines go to stderr).")
    boolean json;

    PrintStream stdout = System.out;

    @Override
    public Integer call() throws IOException {
        if (maxNewTokens < 1) {
            throw new UserError("--max-new-tokens must be >= 1, got " + maxNewTokens);
        }
        if (!(temperature > 0) || !(topP > 0 && topP <= 1) || topK < 0) {
            throw new UserError("--temperature must be > 0, --top-p in (0, 1], --top-k >= 0");
        }
        ModelOptions.checkAdapter(adapter);
        TaskChoice.ModelKind kind = TaskChoice.kindOf(modelOptions.model);
        if (kind == TaskChoice.ModelKind.ENCODER || kind == TaskChoice.ModelKind.CLASSIFIER) {
            throw new UserError(
                    "generate needs a decoder (llama, mistral, qwen2); "
                            + modelOptions.model
                            + " is a BERT encoder");
        }
        try (LoadedModel m =
                        Models.load(
                                modelOptions.model,
                                Task.CAUSAL_LM,
                                0,
                                0,
                                modelOptions.device(),
                                modelOptions.tokenizer,
                                modelOptions.config,
                                seed);
                PeftModel peft = Adapters.load(m, adapter)) {
            LlamaForCausalLM lm = (LlamaForCausalLM) m.block();
            List<long[]> ids = new ArrayList<>();
            for (String p : prompts) {
                ids.add(m.tokenizer().encode(p));
            }
            GenerationConfig.Builder g =
                    GenerationConfig.builder()
                            .maxNewTokens(maxNewTokens)
                            .sample(sample)
                            .temperature(temperature)
                            .topK(topK)
                            .topP(topP)
                            .seed(seed)
                            .eosTokenIds(lm.config().eosTokenIds());
            if (lm.config().padTokenId() >= 0) {
                g.padTokenId(lm.config().padTokenId());
            }
            List<long[]> out;
            try (NoGrad off = NoGrad.enter();
                    NDManager manager =
                            NDManager.newBaseManager(m.model().getNDManager().getDevice())) {
                out = Generator.generate(lm, ids, g.build(), manager);
            }
            if (json) {
                JsonArray outputs = new JsonArray();
                for (int i = 0; i < prompts.size(); i++) {
                    JsonObject o = new JsonObject();
                    o.addProperty("prompt", prompts.get(i));
                    o.addProperty(
                            "text", m.tokenizer().decode(concat(ids.get(i), out.get(i)), true));
                    JsonArray generated = new JsonArray();
                    for (long id : out.get(i)) {
                        generated.add(id);
                    }
                    o.add("generated_ids", generated);
                    outputs.add(o);
                }
                JsonObject result = new JsonObject();
                result.addProperty("model", m.name());
                result.addProperty("adapter", adapter == null ? null : adapter.toString());
                result.add("outputs", outputs);
                JsonOutput.print(stdout, result);
                return 0;
            }
            for (int i = 0; i < prompts.size(); i++) {
                long[] prompt = ids.get(i);
                long[] all = new long[prompt.length + out.get(i).length];
                System.arraycopy(prompt, 0, all, 0, prompt.length);
                System.arraycopy(out.get(i), 0, all, prompt.length, out.get(i).length);
                stdout.println(m.tokenizer().decode(all, true));
                if (i < prompts.size() - 1) {
                    stdout.println("---");
                }
            }
        }
        return 0;
    }

    private static long[] concat(long[] a, long[] b) {
        long[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
