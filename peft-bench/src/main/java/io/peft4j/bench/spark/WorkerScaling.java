package io.peft4j.bench.spark;

import io.peft4j.lora.LoraConfig;
import io.peft4j.spark.DistributedFineTuner;
import io.peft4j.spark.DistributedTrainingResult;
import io.peft4j.spark.ModelSource;
import io.peft4j.spark.TrainingTask;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;

/**
 * Steps per second of MiniLM + LoRA (r 8, q and v, trained head) with 1 and 2 local workers,
 * alternated in one Spark session so both see the same machine load; batch 16 per worker, 64
 * tokens. Arguments: rounds (3), steps per fit (10), model folder, SST-2 train.tsv.
 */
public final class WorkerScaling {

    private WorkerScaling() {}

    public static void main(String[] args) throws Exception {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        String model = args.length > 2 ? args[2] : "../shared/models/all-minilm-l6-v2";
        String train = args.length > 3 ? args[3] : "../shared/data/sst2/train.tsv";
        if (!Files.isDirectory(Path.of(model)) || !Files.isRegularFile(Path.of(train))) {
            System.err.println("needs " + model + " and " + train);
            System.exit(2);
        }
        SparkSession spark =
                SparkSession.builder()
                        .master("local[2]")
                        .appName("peft4j-worker-scaling")
                        .config("spark.ui.enabled", "false")
                        .config("spark.driver.host", "127.0.0.1")
                        .config("spark.driver.bindAddress", "127.0.0.1")
                        .config(DistributedFineTuner.BARRIER_TIMEOUT, "600s")
                        .getOrCreate();
        spark.sparkContext().setLogLevel("ERROR");
        try {
            Dataset<Row> rows =
                    spark.read()
                            .option("sep", "\t")
                            .option("header", "true")
                            .option("quote", "")
                            .schema("sentence STRING, label INT")
                            .csv(train)
                            .orderBy(functions.rand(1))
                            .limit(640)
                            .cache();
            Path out = Files.createTempDirectory("peft-spark-scaling");
            System.out.println(
                    "| round | 1 worker s/step | 2 workers s/step | 2-worker exchange s/step | examples/s 2 workers / 1 worker |");
            System.out.println("|---:|---:|---:|---:|---:|");
            for (int r = 1; r <= rounds; r++) {
                DistributedTrainingResult one =
                        fit(model, steps, rows.repartition(1), out.resolve("one-" + r));
                DistributedTrainingResult two =
                        fit(model, steps, rows.repartition(2), out.resolve("two-" + r));
                System.out.printf(
                        Locale.ROOT,
                        "| %d | %.3f | %.3f | %.3f | %.3f |%n",
                        r,
                        one.secondsPerStep(),
                        two.secondsPerStep(),
                        two.exchangeSecondsPerStep(),
                        (32 / two.secondsPerStep()) / (16 / one.secondsPerStep()));
            }
        } finally {
            spark.stop();
        }
    }

    private static DistributedTrainingResult fit(
            String model, int steps, Dataset<Row> data, Path out) {
        return DistributedFineTuner.builder()
                .model(
                        ModelSource.classifier(
                                Path.of(model).toAbsolutePath().toString(), 2, 64, 42))
                .adapter(
                        LoraConfig.builder()
                                .rank(8)
                                .alpha(16)
                                .dropout(0.1f)
                                .targets("query", "value")
                                .modulesToSave(List.of("classifier"))
                                .build())
                .task(TrainingTask.classification("sentence", "label", 2))
                .learningRate(1e-3)
                .steps(steps)
                .batchSize(16)
                .build()
                .fit(data, out);
    }
}
