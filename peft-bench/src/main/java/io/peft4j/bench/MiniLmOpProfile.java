package io.peft4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * Times the ops of one MiniLM (BERT) layer in isolation at batch x seq (default 32 x 128), ops
 * interleaved round by round, medians; a layer's time is about the sum of its ops. Usage: {@code
 * MiniLmOpProfile [rounds=3] [batch=32] [seq=128]}.
 */
public final class MiniLmOpProfile {

    private MiniLmOpProfile() {}

    public static void main(String[] args) {
        // first thing: MKL's fast path on AMD CPUs (the library never installs it)
        io.peft4j.core.engine.MklCpuDispatch.install();
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        int batch = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        int seq = args.length > 2 ? Integer.parseInt(args[2]) : 128;
        Bench.gradOff();
        int hidden = 384;
        int heads = 12;
        int d = hidden / heads;
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.randomNormal(0, 1, new Shape(batch, seq, hidden), DataType.FLOAT32);
            NDArray x2 = x.reshape(batch * ((long) seq), hidden);
            NDArray wq = m.randomNormal(0, 0.05f, new Shape(hidden, hidden), DataType.FLOAT32);
            NDArray bq = m.zeros(new Shape(hidden));
            NDArray wi = m.randomNormal(0, 0.05f, new Shape(4L * hidden, hidden), DataType.FLOAT32);
            NDArray bi = m.zeros(new Shape(4L * hidden));
            NDArray wo = m.randomNormal(0, 0.05f, new Shape(hidden, 4L * hidden), DataType.FLOAT32);
            NDArray inner =
                    m.randomNormal(0, 1, new Shape(batch, seq, 4L * hidden), DataType.FLOAT32);
            NDArray q = x.reshape(batch, seq, heads, d).transpose(0, 2, 1, 3);
            NDArray qc = q.duplicate();
            NDArray scores =
                    m.randomNormal(0, 1, new Shape(batch, heads, seq, seq), DataType.FLOAT32);
            NDArray bias = m.zeros(new Shape(batch, 1, 1, seq));
            NDArray lnW = m.ones(new Shape(hidden));
            Map<String, Function<NDManager, NDArray>> ops = new LinkedHashMap<>();
            ops.put(
                    "linear 384->384 on (B,T,384) [x4 per layer]",
                    s -> Linear.linear(x, wq, bq).head());
            ops.put("linear 384->384 on (B*T,384) 2-D", s -> Linear.linear(x2, wq, bq).head());
            ops.put("linear 384->1536 [x1]", s -> Linear.linear(x, wi, bi).head());
            ops.put("linear 1536->384 [x1]", s -> Linear.linear(inner, wo, bq).head());
            ops.put("gelu (B,T,1536) [x1]", s -> inner.getNDArrayInternal().gelu());
            ops.put(
                    "layerNorm (B,T,384) [x2]",
                    s ->
                            x.getNDArrayInternal()
                                    .layerNorm(x, new Shape(hidden), lnW, bq, 1e-12f)
                                    .head());
            ops.put("add residual (B,T,384) [x2]", s -> x.add(x));
            ops.put("q k^T, strided views (B,h,T,d) [x1]", s -> q.matMul(q.transpose(0, 1, 3, 2)));
            ops.put("q k^T, contiguous q [x1]", s -> qc.matMul(qc.transpose(0, 1, 3, 2)));
            ops.put(
                    "q k^T as 5-D (as Attention does) [x1]",
                    s ->
                            q.reshape(batch, heads, 1, seq, d)
                                    .matMul(q.expandDims(2).transpose(0, 1, 2, 4, 3)));
            ops.put(
                    "scores * 1/sqrt(d) + bias [x1]",
                    s -> scores.mul(1.0 / Math.sqrt(d)).add(bias));
            ops.put("softmax (B,h,T,T) [x1]", s -> scores.softmax(-1));
            ops.put("probs v (B,h,T,T)(B,h,T,d) [x1]", s -> scores.matMul(q));
            ops.put(
                    "context transpose+reshape (copy) [x1]",
                    s -> q.transpose(0, 2, 1, 3).reshape(batch, seq, hidden));
            int n = ops.size();
            double[][] ms = new double[n][rounds];
            for (int round = -1; round < rounds; round++) {
                int i = 0;
                for (Function<NDManager, NDArray> op : ops.values()) {
                    long t0 = System.nanoTime();
                    int calls = 3;
                    for (int c = 0; c < calls; c++) {
                        try (NDManager scope = m.newSubManager()) {
                            x.tempAttach(scope);
                            NDArray out = op.apply(scope);
                            out.attach(scope);
                            out.toByteBuffer();
                        }
                    }
                    if (round >= 0) {
                        ms[i][round] = (System.nanoTime() - t0) / 1e6 / calls;
                    }
                    i++;
                }
            }
            System.out.printf(
                    Locale.ROOT,
                    "MiniLM layer ops, batch %d x %d, %s%n",
                    batch,
                    seq,
                    Bench.machine());
            int i = 0;
            for (String name : ops.keySet()) {
                System.out.printf(Locale.ROOT, "  %-48s %8.2f ms%n", name, Bench.median(ms[i++]));
            }
        }
    }
}
