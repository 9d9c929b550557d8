package io.peft4j.spark.examples;

import io.peft4j.lora.LoraConfig;
import io.peft4j.spark.AdapterInference;
import io.peft4j.spark.DistributedFineTuner;
import io.peft4j.spark.DistributedTrainingResult;
import io.peft4j.spark.ModelSource;
import io.peft4j.spark.TrainingTask;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;

/**
 * A Spark job: fine-tunes all-MiniLM-L6-v2 with LoRA (r 8 on query and value, plus a trained
 * classifier head) on an SST-2 DataFrame, one worker per partition, writes the adapter, then scores
 * the dev set with it through {@link AdapterInference}. Prints one JSON line to stdout.
 *
 * <p>Arguments ({@code --name value}): master (local[2]), workers (2), model
 * (../shared/models/all-minilm-l6-v2), train (../shared/data/sst2/train.tsv), dev
 * (../shared/data/sst2/dev.tsv; "none" to skip), limit (2000 training rows), steps (60), batch-size
 * (16 per worker), max-length (64), lr (1e-3), out (runs/spark-sst2), checkpoints
 * (out/checkpoints), seed (42).
 */
public final class Sst2LoraJob {

    private Sst2LoraJob() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> a =
                new HashMap<>(
                        Map.of(
                                "master",
                                "local[2]",
                                "workers",
                                "2",
                                "model",
                                "../shared/models/all-minilm-l6-v2",
                                "train",
                                "../shared/data/sst2/train.tsv",
                                "dev",
                                "../shared/data/sst2/dev.tsv",
                                "limit",
                                "2000",
                                "steps",
                                "60",
                                "batch-size",
                                "16",
                                "max-length",
                                "64",
                                "lr",
                                "1e-3"));
        a.put("out", "runs/spark-sst2");
        a.put("seed", "42");
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")
                    || (!a.containsKey(args[i].substring(2)) && !args[i].equals("--checkpoints"))) {
                System.err.println(
                        "unknown option " + args[i] + "; options: " + a.keySet() + ", checkpoints");
                System.exit(2);
            }
            a.put(args[i].substring(2), args[i + 1]);
        }
        Path model = Path.of(a.get("model"));
        Path train = Path.of(a.get("train"));
        if (!Files.isDirectory(model) || !Files.isRegularFile(train)) {
            System.err.println("needs " + model + " and " + train + " (the ../shared folder)");
            System.exit(2);
        }
        Path out = Path.of(a.get("out"));
        String checkpoints = a.getOrDefault("checkpoints", out.resolve("checkpoints").toString());
        int workers = Integer.parseInt(a.get("workers"));
        int maxLength = Integer.parseInt(a.get("max-length"));
        long seed = Long.parseLong(a.get("seed"));

        SparkSession spark =
                SparkSession.builder()
                        .master(a.get("master"))
                        .appName("peft4j-sst2-lora")
                        .config("spark.ui.enabled", "false")
                        .config("spark.driver.host", "127.0.0.1")
                        .config("spark.driver.bindAddress", "127.0.0.1")
                        .config(DistributedFineTuner.BARRIER_TIMEOUT, "600s")
                        .getOrCreate();
        spark.sparkContext().setLogLevel("ERROR");
        try {
            Dataset<Row> sst2 =
                    spark.read()
                            .option("sep", "\t")
                            .option("header", "true")
                            .option("quote", "")
                            .schema("sentence STRING, label INT")
                            .csv(train.toString());
            Dataset<Row> sample =
                    sst2.orderBy(functions.rand(seed))
                            .limit(Integer.parseInt(a.get("limit")))
                            .repartition(workers);
            ModelSource minilm =
                    ModelSource.classifier(model.toAbsolutePath().toString(), 2, maxLength, seed);
            DistributedTrainingResult r =
                    DistributedFineTuner.builder()
                            .model(minilm)
                            .adapter(
                                    LoraConfig.builder()
                                            .rank(8)
                                            .alpha(16)
                                            .dropout(0.1f)
                                            .targets("query", "value")
                                            .modulesToSave(List.of("classifier"))
                                            .build())
                            .task(TrainingTask.classification("sentence", "label", 2))
                            .learningRate(Double.parseDouble(a.get("lr")))
                            .warmupSteps(Long.parseLong(a.get("steps")) / 10)
                            .steps(Long.parseLong(a.get("steps")))
                            .batchSize(Integer.parseInt(a.get("batch-size")))
                            .seed(seed)
                            .checkpointDir(Path.of(checkpoints).toAbsolutePath().toString())
                            .checkpointEvery(20)
                            .build()
                            .fit(sample, out);
            String accuracy = "null";
            if (!a.get("dev").equals("none") && Files.isRegularFile(Path.of(a.get("dev")))) {
                Dataset<Row> dev =
                        spark.read()
                                .option("sep", "\t")
                                .option("header", "true")
                                .option("quote", "")
                                .schema("sentence STRING, label INT")
                                .csv(a.get("dev"));
                Dataset<Row> scored =
                        AdapterInference.builder()
                                .model(minilm)
                                .adapter("sst2", out.toAbsolutePath().toString())
                                .textColumn("sentence")
                                .outputColumn("logits")
                                .build()
                                .transform(dev);
                // argmax of two logits: class 1 when the second is larger
                double acc =
                        scored.select(
                                        functions.avg(
                                                functions
                                                        .when(
                                                                functions
                                                                        .element_at(
                                                                                functions.col(
                                                                                        "logits"),
                                                                                2)
                                                                        .gt(
                                                                                functions
                                                                                        .element_at(
                                                                                                functions
                                                                                                        .col(
                                                                                                                "logits"),
                                                                                                1)),
                                                                1)
                                                        .otherwise(0)
                                                        .equalTo(functions.col("label"))
                                                        .cast("double")))
                                .first()
                                .getDouble(0);
                accuracy = String.format(Locale.ROOT, "%.4f", acc);
            }
            System.out.printf(
                    Locale.ROOT,
                    "{\"workers\":%d,\"steps\":%d,\"restarts\":%d,\"first_loss\":%.4f,"
                            + "\"final_loss\":%.4f,\"trainable_values\":%d,\"message_bytes\":%d,\"seconds_per_step\":%.4f,"
                            + "\"exchange_seconds_per_step\":%.4f,\"dev_accuracy\":%s,\"adapter\":\"%s\"}%n",
                    r.workers(),
                    r.steps(),
                    r.restarts(),
                    r.meanLosses().get(0),
                    r.finalLoss(),
                    r.trainableValues(),
                    r.messageBytes(),
                    r.secondsPerStep(),
                    r.exchangeSecondsPerStep(),
                    accuracy,
                    out);
        } finally {
            spark.stop();
        }
    }
}
