package io.peft4j.spark;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.testing.TinyModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * One real local Spark for all tests of this JVM (starting one takes seconds): {@code local[2]}, no
 * UI, loopback only, a 60 s barrier timeout; and a tiny BERT classifier written once.
 */
final class LocalSpark {

    static final StructType SCHEMA =
            new StructType()
                    .add("sentence", DataTypes.StringType, false)
                    .add("label", DataTypes.IntegerType, false);

    private static SparkSession spark;
    private static Path tinyBert;

    private LocalSpark() {}

    static synchronized SparkSession session() {
        if (spark == null) {
            spark =
                    SparkSession.builder()
                            .master("local[2]")
                            .appName("peft-spark-tests")
                            .config("spark.ui.enabled", "false")
                            .config("spark.driver.host", "127.0.0.1")
                            .config("spark.driver.bindAddress", "127.0.0.1")
                            .config("spark.sql.shuffle.partitions", "2")
                            .config(DistributedFineTuner.BARRIER_TIMEOUT, "60s")
                            .getOrCreate();
            spark.sparkContext().setLogLevel("ERROR");
            Runtime.getRuntime().addShutdownHook(new Thread(spark::stop));
        }
        return spark;
    }

    static JavaSparkContext context() {
        return JavaSparkContext.fromSparkContext(session().sparkContext());
    }

    /** A tiny BERT checkpoint with a word-level tokenizer (peft-examples' test model). */
    static synchronized Path tinyBert() {
        if (tinyBert == null) {
            try {
                Path dir = Files.createTempDirectory("peft-spark-tiny-bert");
                Path bert = TinyModels.bert(dir.resolve("bert"));
                // no dropout: with it the replicas' runs would depend on random draws, not only on
                // data
                Path config = bert.resolve("config.json");
                JsonObject json =
                        JsonParser.parseString(Files.readString(config)).getAsJsonObject();
                json.addProperty("hidden_dropout_prob", 0.0);
                json.addProperty("attention_probs_dropout_prob", 0.0);
                Files.writeString(config, json.toString());
                tinyBert = bert;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return tinyBert;
    }

    /** Short sentences over the tiny vocabulary; label 1 when a positive word occurs. */
    static List<Row> sentences(int n, long seed) {
        Random random = new Random(seed);
        List<String> positive = List.of("good", "great", "fine", "liked");
        List<String> negative = List.of("bad", "awful", "dull", "hated");
        List<String> filler = List.of("the", "film", "movie", "story", "was", "very", "it", "is");
        List<Row> rows = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int label = random.nextInt(2);
            List<String> words = new ArrayList<>();
            int len = 3 + random.nextInt(4);
            for (int w = 0; w < len; w++) {
                words.add(filler.get(random.nextInt(filler.size())));
            }
            words.add(
                    random.nextInt(words.size() + 1),
                    (label == 1 ? positive : negative).get(random.nextInt(4)));
            rows.add(RowFactory.create(String.join(" ", words), label));
        }
        return rows;
    }

    /** A DataFrame whose partitions are exactly {@code partitions}, in order. */
    static Dataset<Row> frame(List<List<Row>> partitions) {
        List<Row> all = new ArrayList<>();
        partitions.forEach(all::addAll);
        // parallelize cuts a list into contiguous slices, so equal-sized parts land one per
        // partition
        for (List<Row> p : partitions) {
            if (p.size() != partitions.get(0).size()) {
                throw new IllegalArgumentException("test partitions must be equal-sized");
            }
        }
        JavaRDD<Row> rdd = context().parallelize(all, partitions.size());
        return session().createDataFrame(rdd, SCHEMA);
    }
}
