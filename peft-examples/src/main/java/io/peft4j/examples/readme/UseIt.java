package io.peft4j.examples.readme;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
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
        // First thing in main: MKL's fast path on AMD CPUs (a no-op elsewhere).
        MklCpuDispatch.install();
        Path dir = Path.of(args.length > 0 ? args[0] : "my-adapter");
        try (Model model = Model.newInstance("encoder");
                NDManager data = NDManager.newBaseManager()) {
            // Any DJL block tree: DJL's own blocks, yours, or a model peft4j loads from an HF
            // checkpoint (HfCheckpoint.load).
            SequentialBlock block =
                    new SequentialBlock()
                            .add(new TransformerEncoderBlock(64, 4, 128, 0.1f, Activation::gelu))
                            .add(Linear.builder().setUnits(2).build());
            block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 8, 64));
            // Or Model.load(...) of a saved one.
            model.setBlock(block);
            NDArray x = data.randomNormal(new Shape(64, 8, 64));
            NDArray y = data.randomNormal(new Shape(64, 8, 2));

            // Targets by name; or .targetRegex(".*Projection"), or .allLinear().
            LoraConfig config =
                    LoraConfig.builder()
                            .rank(8)
                            .alpha(16)
                            .dropout(0.05f)
                            .targets("queryProjection", "valueProjection")
                            .build();
            // The base is frozen and the adapter installed in place.
            try (PeftModel peft = PeftModel.wrap(model, config)) {
                // trainable params: ... || all params: ...
                System.out.println(peft.trainableSummary());
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
                // adapter_config.json + adapter_model.safetensors (HF peft's layout)
                peft.save(dir);
            }

            // DJL's own Trainer and EasyTrain.fit train the adapter only, wrapped before or after
            // newTrainer. PeftModel.load also reads HF peft's files.
            ArrayDataset dataset =
                    new ArrayDataset.Builder()
                            .setData(x)
                            .optLabels(y)
                            .setSampling(16, true)
                            .build();
            try (PeftModel peft = PeftModel.load(model, dir);
                    Trainer trainer = model.newTrainer(new DefaultTrainingConfig(Loss.l2Loss()))) {
                trainer.initialize(new Shape(16, 8, 64));
                EasyTrain.fit(trainer, 2, dataset, null);
                NDList probe = new NDList(x.get("0:2"));
                // Inside the scope: exactly the base model.
                try (AdapterScope off = peft.disableAdapters()) {
                    System.out.println("base: " + peft.forward(probe).head().get(0, 0));
                }
                // W += s B A (refuses NaN/Inf)
                peft.merge();
                System.out.println("merged: " + peft.forward(probe).head().get(0, 0));
            }
        }
    }
}
