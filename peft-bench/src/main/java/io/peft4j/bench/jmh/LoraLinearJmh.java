package io.peft4j.bench.jmh;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import io.peft4j.bench.BenchMethods;
import io.peft4j.core.PeftModel;
import io.peft4j.core.engine.MklCpuDispatch;
import io.peft4j.core.spi.AdapterConfig;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * JMH: one forward of a plain Linear, the same Linear with an unmerged LoRA r=8 adapter, and with
 * the adapter merged, at two shapes: {@code 64x1024} tokens through 1024x1024 (the {@code
 * LoraForwardRatio} case) and {@code 4096x384} through 384x384 (a MiniLM query/value projection at
 * batch 32 x 128). Each call runs under a sub-manager that is closed, as in serving. Run with
 * {@code java -cp <bench classpath> org.openjdk.jmh.Main LoraLinearJmh}; the ratio of the {@code
 * unmerged} and {@code base} scores is the LoRA forward overhead.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(
        value = 1,
        jvmArgsAppend = {
            "-Dai.djl.offline=true",
            "-Dai.djl.pytorch.num_threads=1",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"
        })
public class LoraLinearJmh {

    /** tokens x features: the 1024² case and a MiniLM projection. */
    @Param({"64x1024", "4096x384"})
    public String shape;

    private NDManager manager;
    private Block base;
    private Block unmerged;
    private Block merged;
    private PeftModel unmergedPeft;
    private PeftModel mergedPeft;
    private NDArray x;

    @Setup(Level.Trial)
    public void setUp() {
        MklCpuDispatch.install(); // before the first GEMM
        ai.djl.engine.Engine.getEngine("PyTorch");
        JniUtils.setGradMode(false); // inference: grad mode is per thread, and this is JMH's
        String[] parts = shape.split("x");
        int tokens = Integer.parseInt(parts[0]);
        int features = Integer.parseInt(parts[1]);
        manager = NDManager.newBaseManager();
        manager.getEngine().setRandomSeed(3);
        base = linear(features);
        unmerged = linear(features);
        merged = linear(features);
        AdapterConfig config = BenchMethods.lora("Linear");
        unmergedPeft = PeftModel.wrap(unmerged, config);
        mergedPeft = PeftModel.wrap(merged, config);
        for (PeftModel p : new PeftModel[] {unmergedPeft, mergedPeft}) {
            for (Parameter param : p.trainableParameters().values()) {
                try (NDArray r =
                        param.getArray().getManager().randomNormal(param.getArray().getShape())) {
                    r.muli(0.02).copyTo(param.getArray()); // non-zero B: the adapter really adds
                    // something
                }
            }
        }
        mergedPeft.merge();
        x = manager.randomNormal(0, 1, new Shape(tokens, features), DataType.FLOAT32);
    }

    private Block linear(int features) {
        SequentialBlock block =
                new SequentialBlock().add(Linear.builder().setUnits(features).build());
        block.initialize(manager, DataType.FLOAT32, new Shape(1, features));
        return block;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        unmergedPeft.close();
        mergedPeft.close();
        manager.close();
    }

    @Benchmark
    public ByteBuffer base() {
        return forward(base);
    }

    @Benchmark
    public ByteBuffer unmerged() {
        return forward(unmerged);
    }

    @Benchmark
    public ByteBuffer merged() {
        return forward(merged);
    }

    /**
     * One forward in a closed sub-manager; the output's bytes are returned so nothing is elided.
     */
    private ByteBuffer forward(Block block) {
        try (NDManager scope = manager.newSubManager()) {
            x.tempAttach(scope); // intermediates land in the scope, not in the long-lived manager
            NDArray y =
                    block.forward(new ParameterStore(scope, false), new NDList(x), false).head();
            y.attach(scope);
            return y.toByteBuffer();
        }
    }
}
