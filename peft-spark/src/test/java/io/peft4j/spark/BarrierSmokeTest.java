package io.peft4j.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

class BarrierSmokeTest {
    @Test
    void allGather() {
        SparkSession spark = SparkSession.builder().master("local[2]").appName("smoke")
                .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
        try {
            JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
            JavaRDD<Integer> rdd = jsc.parallelize(Arrays.asList(1, 2, 3, 4), 2);
            scala.Function1<scala.collection.Iterator<Integer>, scala.collection.Iterator<String>> f =
                    (scala.Function1<scala.collection.Iterator<Integer>, scala.collection.Iterator<String>> & java.io.Serializable) sit -> {
                java.util.Iterator<Integer> it = scala.jdk.javaapi.CollectionConverters.asJava(sit);
                BarrierTaskContext ctx = BarrierTaskContext.get();
                int sum = 0;
                while (it.hasNext()) sum += it.next();
                String[] all = ctx.allGather(Integer.toString(sum));
                List<String> r = new ArrayList<>();
                r.add(ctx.partitionId() + ":" + String.join(",", all));
                return scala.jdk.javaapi.CollectionConverters.asScala(r.iterator());
            };
            List<String> out = rdd.rdd().barrier().mapPartitions(f, false,
                    scala.reflect.ClassTag$.MODULE$.apply(String.class)).toJavaRDD().collect();
            System.err.println(out);
            assertEquals(List.of("0:3,7", "1:3,7"), out);
        } finally {
            spark.stop();
        }
    }
}
