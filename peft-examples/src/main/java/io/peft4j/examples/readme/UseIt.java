package io.peft4j.examples.readme;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.transformer.TransformerEncoderBlock;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.loss.Loss;
import ai.djl.translate.TranslateException;
import io.peft4j.core.AdapterScope;
import io.peft4j.core.PeftModel;
import io.peft4j.core.engine.MklCpuDispatch;
import io.peft4j.core.train.FineTuner;
import io.peft4j.core.train.TrainingData;
import io.peft4j.lora.LoraConfig;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The README's "Use it" example: LoRA on a DJL model, trained with peft4j's FineTuner and with
 * DJL's Trainer.
 */
public final class UseIt {

    public static void main(String[] args) throws IOException, TranslateException {
        MklCpuDispatch
                .install(); // first thing in main: MKL's fast path on AMD CPUs (no-op elsewhere)
        Path dir = Path.of(args.length > 0 ? args[0] : "my-adapter");
        try (Model model = Model.newInstance("encoder");
                NDManager data = NDManager.newBaseManager()) {
            // any DJL block tree: DJL's own blocks, yours, or a model peft4j loads from an HF
            // checkpoint
            SequentialBlock block =
                    new SequentialBlock()
                            .add(new TransformerEncoderBlock(64, 4, 128, 0.1f, Activation::gelu))
                            .add(Linear.builder().setUnits(2).build());
            block.initialize(
                    model.getNDManager(),
                    ai.djl.ndarray.types.DataType.FLOAT32,
                    new Shape(1, 8, 64));
            model.setBlock(block); // or Model.load(...) of a saved one
            NDArray x = data.randomNormal(new Shape(64, 8, 64));
            NDArray y = data.randomNormal(new Shape(64, 8, 2));

            LoraConfig config =
                    LoraConfig.builder()
                            .rank(8)
                            .alpha(16)
                            .dropout(0.05f)
                            .targets(
                                    "queryProjection",
                                    "valueProjection") // or .targetRegex(".*Projection"), or
                            // .allLinear()
                            .build();
            try (PeftModel peft =
                    PeftModel.wrap(model, config)) { // base frozen, adapter installed in place
                System.out.println(
                        peft.trainableSummary()); // trainable params: ... || all params: ...
                TrainingData train =
                        new TrainingData() {
                            @Override
                            public int size() {
                                return 64;
                            }

                            @Override
                            public NDList batch(NDManager m, int[] idx) {
                                return new NDList(x.get(m.create(idx)), y.get(m.create(idx)));
                            }
                        };
                FineTuner.builder()
                        .learningRate(1e-3)
                        .epochs(2)
                        .batchSize(16)
                        .progress(false)
                        .build()
                        .fit(
                                peft,
                                (batch, training) ->
                                        peft.forward(new NDList(batch.get(0)), training)
                                                .head()
                                                .sub(batch.get(1))
                                                .square()
                                                .mean(),
                                train);
                peft.save(
                        dir); // adapter_config.json + adapter_model.safetensors (HF peft's layout)
            }

            // DJL's own Trainer and EasyTrain.fit train the adapter only, wrapped before or after
            // newTrainer
            ArrayDataset dataset =
                    new ArrayDataset.Builder()
                            .setData(x)
                            .optLabels(y)
                            .setSampling(16, true)
                            .build();
            try (PeftModel peft = PeftModel.load(model, dir); // also loads HF peft's files
                    Trainer trainer = model.newTrainer(new DefaultTrainingConfig(Loss.l2Loss()))) {
                trainer.initialize(new Shape(16, 8, 64));
                EasyTrain.fit(trainer, 2, dataset, null);
                NDList probe = new NDList(x.get("0:2"));
                try (AdapterScope off = peft.disableAdapters()) {
                    System.out.println(
                            "base: "
                                    + peft.forward(probe)
                                            .head()
                                            .get(0, 0)); // exactly the base model
                }
                peft.merge(); // W += s B A (refuses NaN/Inf)
                System.out.println("merged: " + peft.forward(probe).head().get(0, 0));
            }
        }
    }
}
