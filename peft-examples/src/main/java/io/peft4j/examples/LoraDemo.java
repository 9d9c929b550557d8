package io.peft4j.examples;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;

import io.peft4j.core.PeftModel;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.TrainingData;
import io.peft4j.core.train.TrainingResult;
import io.peft4j.lora.LoraConfig;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A small end-to-end LoRA run that needs nothing but Maven: pretrain a classifier on task A, then
 * adapt it to a shifted task B with LoRA (base frozen), report accuracy before and after, save the
 * adapter in Hugging Face peft's format and load it back.
 *
 * <p>Usage: {@code LoraDemo [outDir] [--device cpu|gpu]}. The example trainer of issue 4 (a real
 * pretrained MiniLM) will replace this as the README's first command.
 */
public final class LoraDemo {

    private static final int FEATURES = 16;
    private static final int EXAMPLES = 2048;

    private LoraDemo() {}

    public static void main(String[] args) throws Exception {
        Path out = Paths.get("runs", "lora-demo");
        Device device = Device.cpu();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--device") && i + 1 < args.length) {
                device = args[++i].equals("gpu") ? Device.gpu() : Device.cpu();
            } else {
                out = Paths.get(args[i]);
            }
        }
        try (NDManager manager = NDManager.newBaseManager(device)) {
            manager.getEngine().setRandomSeed(1);
            Block model = classifier(manager);
            NDArray x = manager.randomNormal(0, 1, new Shape(EXAMPLES, FEATURES), DataType.FLOAT32);
            NDArray taskA = labels(x, manager.randomNormal(0, 1, new Shape(FEATURES, 1), DataType.FLOAT32));
            NDArray taskB = labels(x, manager.randomNormal(0, 1, new Shape(FEATURES, 1), DataType.FLOAT32));
            int split = EXAMPLES * 3 / 4;

            System.out.println("1) Pretraining the base classifier on task A (all weights trainable)");
            Map<String, Parameter> all = new LinkedHashMap<>();
            for (Pair<String, Parameter> p : model.getParameters()) {
                all.put(p.getKey(), p.getValue());
            }
            train(() -> all, model, x, taskA, split, 3e-3, 300);
            System.out.printf(Locale.ROOT, "   base accuracy on task A (held out): %.3f%n", accuracy(model, x, taskA, split));
            double before = accuracy(model, x, taskB, split);
            System.out.printf(Locale.ROOT, "   base accuracy on task B (held out): %.3f%n", before);

            System.out.println("2) LoRA on the hidden layers, base frozen, fine-tuned on task B");
            LoraConfig config = LoraConfig.builder().rank(4).alpha(8).targets("Linear_1", "Linear_3").build();
            try (PeftModel peft = PeftModel.wrap(model, config)) {
                System.out.println("   " + peft.trainableSummary());
                TrainingResult result = train(peft, model, x, taskB, split, 1e-2, 400);
                double after = accuracy(model, x, taskB, split);
                System.out.printf(Locale.ROOT, "   loss %.4f -> %.4f in %d steps (%.1f s)%n",
                        result.losses().get(0), result.finalLoss(), result.steps(), result.seconds());
                System.out.printf(Locale.ROOT, "   accuracy on task B (held out): %.3f -> %.3f%n", before, after);
                try (var off = peft.disableAdapters()) {
                    System.out.printf(Locale.ROOT, "   with adapters disabled: %.3f (the base model)%n", accuracy(model, x, taskB, split));
                }
                peft.save(out);
                System.out.println("3) Saved adapter_config.json + adapter_model.safetensors to " + out.toAbsolutePath());
            }
            try (PeftModel loaded = PeftModel.load(model, out)) {
                System.out.printf(Locale.ROOT, "   reloaded onto the base model: accuracy on task B %.3f%n", accuracy(model, x, taskB, split));
            }
        }
    }

    /** A 16 → 64 → 64 → 2 MLP; DJL names its modules Linear_1, Linear_3, Linear_5. */
    static Block classifier(NDManager manager) {
        SequentialBlock block = new SequentialBlock()
                .add(Linear.builder().setUnits(64).build())
                .add(Activation::relu)
                .add(Linear.builder().setUnits(64).build())
                .add(Activation::relu)
                .add(Linear.builder().setUnits(2).build());
        block.initialize(manager, DataType.FLOAT32, new Shape(1, FEATURES));
        return block;
    }

    static NDArray labels(NDArray x, NDArray direction) {
        return x.matMul(direction).gt(0).toType(DataType.INT32, false).reshape(-1);
    }

    static TrainingResult train(io.peft4j.core.train.TrainableModel trainable, Block model, NDArray x, NDArray y,
            int split, double lr, int steps) {
        TrainingData data = new TrainingData() {
            @Override
            public int size() {
                return split;
            }

            @Override
            public NDList batch(NDManager m, int[] indices) {
                NDArray idx = m.create(indices);
                return new NDList(x.get(idx), y.get(idx));
            }
        };
        return FineTuner.builder().learningRate(lr).maxSteps(steps).batchSize(64).warmupSteps(20).seed(7)
                .build()
                .fit(trainable, (batch, training) -> {
                    NDArray logits = model.forward(new ParameterStore(batch.head().getManager(), false),
                            new NDList(batch.get(0)), training).head();
                    NDArray oneHot = batch.get(1).oneHot(2);
                    return logits.logSoftmax(-1).mul(oneHot).sum(new int[] {-1}).neg().mean();
                }, data);
    }

    static double accuracy(Block model, NDArray x, NDArray y, int from) {
        try (NDManager scope = x.getManager().newSubManager()) {
            NDArray xs = x.get(from + ":");
            NDArray ys = y.get(from + ":");
            xs.attach(scope);
            ys.attach(scope);
            NDArray predicted = model.forward(new ParameterStore(scope, false), new NDList(xs), false).head().argMax(-1);
            return predicted.toType(DataType.INT32, false).eq(ys).sum().getLong() / (double) ys.size();
        }
    }
}
