package io.peft4j.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.peft4j.core.PeftModel;
import io.peft4j.core.ops.NoGrad;
import io.peft4j.core.spi.Selection;
import io.peft4j.lora.LoraConfig;
import io.peft4j.lora.LoraInit;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(180)
class AdapterInferenceTest {

    static final StructType SCHEMA =
            new StructType()
                    .add("sentence", DataTypes.StringType, false)
                    .add("adapter", DataTypes.StringType, true);

    static ModelSource source() {
        return ModelSource.classifier(LocalSpark.tinyBert().toString(), 2, 0, 7);
    }

    /** Saves a LoRA adapter with random A and B (so it changes the outputs). */
    static void saveAdapter(Path dir, long seed) throws Exception {
        try (LoadedModel m = source().load(Device.cpu());
                PeftModel peft =
                        PeftModel.wrap(
                                m.block(),
                                LoraConfig.builder()
                                        .rank(2)
                                        .alpha(4)
                                        .targets("query", "value")
                                        .init(LoraInit.RANDOM)
                                        .seed(seed)
                                        .build())) {
            peft.save(dir);
        }
    }

    /** One text through a PeftModel built here, one row at a time: the reference. */
    static float[] reference(PeftModel peft, LoadedModel m, String text, String adapter) {
        try (NoGrad off = NoGrad.enter();
                NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            NDList in = m.tokenizer().encode(List.of(text)).toNDList(manager);
            return peft.forward(in, List.of(adapter)).head().toFloatArray();
        }
    }

    @Test
    void mixedAdaptersPerRowMatchOneRowAtATimeAndEachExecutorLoadsOnce(@TempDir Path tmp)
            throws Exception {
        saveAdapter(tmp.resolve("a"), 1);
        saveAdapter(tmp.resolve("b"), 2);
        List<Row> rows = new ArrayList<>();
        String[] names = {"a", "b", null, "b", "a", Selection.BASE};
        List<Row> sentences = LocalSpark.sentences(18, 9);
        for (int i = 0; i < sentences.size(); i++) {
            rows.add(RowFactory.create(sentences.get(i).getString(0), names[i % names.length]));
        }
        Dataset<Row> df =
                LocalSpark.session()
                        .createDataFrame(LocalSpark.context().parallelize(rows, 4), SCHEMA);
        AdapterInference inference =
                AdapterInference.builder()
                        .model(source())
                        .adapter("a", tmp.resolve("a").toString())
                        .adapter("b", tmp.resolve("b").toString())
                        .textColumn("sentence")
                        .adapterColumn("adapter")
                        .outputColumn("logits")
                        .batchSize(4)
                        .build();

        ExecutorModels.clear();
        int before = ExecutorModels.loads();
        List<Row> out = inference.transform(df).collectAsList();
        List<Row> again = inference.transform(df).collectAsList();
        assertEquals(
                1,
                ExecutorModels.loads() - before,
                "4 partitions, 2 jobs, 2 task threads: one load");
        assertEquals(rows.size(), out.size());
        assertEquals(out, again);

        try (LoadedModel m = source().load(Device.cpu());
                PeftModel peft = PeftModel.load(m.block(), tmp.resolve("a"))) {
            peft.loadAdapter(tmp.resolve("b"), "b");
            boolean sawDifference = false;
            for (Row row : out) {
                String text = row.getString(0);
                String adapter =
                        row.isNullAt(1)
                                ? Selection.BASE
                                : row.getString(1).equals("a")
                                        ? PeftModel.DEFAULT_ADAPTER
                                        : row.getString(1);
                float[] expected = reference(peft, m, text, adapter);
                List<Float> got = row.getList(2);
                assertEquals(expected.length, got.size());
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(
                            expected[i], got.get(i), 1e-5, "row '" + text + "' with " + adapter);
                }
                float[] base = reference(peft, m, text, Selection.BASE);
                if (!adapter.equals(Selection.BASE)) {
                    for (int i = 0; i < base.length; i++) {
                        sawDifference |= Math.abs(base[i] - expected[i]) > 1e-4;
                    }
                }
            }
            assertTrue(sawDifference, "the adapters did not change any output");
        }
    }

    @Test
    void anUnknownAdapterNameFailsWithTheKnownNames(@TempDir Path tmp) throws Exception {
        saveAdapter(tmp.resolve("a"), 1);
        Dataset<Row> df =
                LocalSpark.session()
                        .createDataFrame(
                                List.of(RowFactory.create("the film was good", "nope")), SCHEMA);
        AdapterInference inference =
                AdapterInference.builder()
                        .model(source())
                        .adapter("a", tmp.resolve("a").toString())
                        .textColumn("sentence")
                        .adapterColumn("adapter")
                        .build();
        Exception e = assertThrows(Exception.class, () -> inference.transform(df).collectAsList());
        String message = String.valueOf(e.getMessage());
        assertTrue(
                message.contains("names adapter 'nope', which is not loaded; adapters: [a]"),
                message);
        IllegalArgumentException missing =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                AdapterInference.builder()
                                        .model(source())
                                        .adapter("a", tmp.resolve("a").toString())
                                        .textColumn("text")
                                        .build()
                                        .transform(df));
        assertTrue(missing.getMessage().contains("no column 'text'"), missing.getMessage());
    }
}
