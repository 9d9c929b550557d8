package io.peft4j.bench;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.peft4j.core.PeftMethods;
import io.peft4j.core.PeftModel;
import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.train.AdamW;
import io.peft4j.core.train.PeftOptimizer;
import io.peft4j.core.train.StepScope;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * A model set up for one kind of training (full fine-tuning or one PEFT method), with its trainable
 * parameters and its optimiser, and the train step every harness times: FineTuner's step body
 * (forward in training mode, loss = mean square of the first output, backward, optimiser step,
 * zeroed gradients, all under a sub-manager that is closed), ended by reading the loss on the host.
 *
 * @param label the case's name in results
 * @param model the model, closed with this object
 * @param peft the adapter-wrapped model; null for full fine-tuning
 * @param params the trained parameters
 * @param optimizer their optimiser, closed with this object
 */
record Trainee(
        String label,
        Model model,
        PeftModel peft,
        Map<String, Parameter> params,
        PeftOptimizer optimizer)
        implements AutoCloseable {

    /** Full fine-tuning of {@code params} (all of them, or a chosen subset) with dense AdamW. */
    static Trainee full(String label, Model model, Map<String, Parameter> params) {
        Map<String, Parameter> trained = new LinkedHashMap<>(params);
        for (Parameter p : trained.values()) {
            p.getArray().setRequiresGradient(true);
        }
        return new Trainee(label, model, null, trained, AdamW.builder().build());
    }

    /**
     * {@code model} wrapped with {@code config}, trained with its method's own optimiser ({@link
     * io.peft4j.core.spi.PeftMethod#newOptimizer}), as in peft4j train.
     */
    static Trainee adapted(String label, Model model, AdapterConfig config) {
        PeftModel peft = PeftModel.wrap(model.getBlock(), config);
        PeftOptimizer optimizer = PeftMethods.forConfig(config).newOptimizer(peft);
        return new Trainee(label, model, peft, peft.trainableParameters(), optimizer);
    }

    long trainableCount() {
        return params.values().stream().mapToLong(p -> p.getArray().size()).sum();
    }

    /**
     * Runs one train step and returns its wall time in seconds.
     *
     * @param manager the long-lived manager; the step runs in a sub-manager of it that is closed
     * @param inputs makes the step's inputs in the given (step) manager
     * @param learningRate the optimiser's learning rate
     */
    double step(NDManager manager, Function<NDManager, NDList> inputs, float learningRate) {
        long start = System.nanoTime();
        try (NDManager scope = manager.newSubManager()) {
            StepScope.borrowParameters(params.values(), scope); // as FineTuner
            NDArray loss;
            try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray out =
                        model.getBlock()
                                .forward(
                                        new ParameterStore(scope, false), inputs.apply(scope), true)
                                .head();
                loss = out.square().mean();
                collector.backward(loss);
            }
            optimizer.step(params, learningRate);
            StepScope.zeroGradients(params.values());
            // Reading the loss waits for every kernel queued so far on a GPU (one stream), so the
            // time includes the whole step there too; on the CPU it is a 4-byte copy.
            loss.getFloat();
        }
        return (System.nanoTime() - start) / 1e9;
    }

    /**
     * The memory of {@code steps} train steps in this process (a child JVM per case): the peak RSS
     * is reset after the model is built (where /proc allows), so a spike while loading does not
     * count as training memory.
     *
     * @return {peak RSS KiB during the steps, RSS KiB before them, 1 if the peak was reset else 0}
     */
    long[] trainingMemory(
            NDManager manager, Function<NDManager, NDList> inputs, float learningRate, int steps) {
        boolean reset = Bench.resetPeakRss();
        long built = Bench.rssKb();
        for (int i = 0; i < steps; i++) {
            step(manager, inputs, learningRate);
        }
        return new long[] {Bench.peakRssKb(), built, reset ? 1 : 0};
    }

    @Override
    public void close() {
        optimizer.close();
        if (peft != null) {
            peft.close();
        }
        model.close();
    }
}
