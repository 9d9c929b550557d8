package io.peft4j.bench;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Our MiniLM forward (peft-models' BertModel built from the langchain4j ONNX export) against ONNX
 * Runtime's Java API on the same file and inputs (random ids, full attention mask, token_type_ids
 * zeros). Checks the outputs agree, then times both side by side: each round runs one of each
 * (order alternating), the figure is the median of per-round ratios ours/ORT. ORT gets as many
 * intra-op threads as libtorch has. Usage: {@code MiniLmVsOrt [rounds=5] [batch=32] [seq=128]
 * [callsPerRound=1]}.
 */
public final class MiniLmVsOrt {

    private MiniLmVsOrt() {}

    public static void main(String[] args) throws OrtException {
        // first thing: MKL's fast path on AMD CPUs (the library never installs it)
        io.peft4j.core.engine.MklCpuDispatch.install();
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int batch = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        int seq = args.length > 2 ? Integer.parseInt(args[2]) : 128;
        int calls = args.length > 3 ? Integer.parseInt(args[3]) : 1;
        Result r = run(Bench.minilmOnnx(), rounds, batch, seq, calls);
        System.out.println(r);
    }

    /** What one run measured. */
    record Result(
            int batch,
            int seq,
            int threads,
            double maxAbsDiff,
            double[] ratios,
            double oursMs,
            double ortMs,
            String machine) {
        @Override
        public String toString() {
            return String.format(
                    Locale.ROOT,
                    "MiniLM (all-MiniLM-L6-v2 ONNX) forward, batch %d x %d tokens, %d threads; %s%n"
                            + "  outputs agree: max |ours - ORT| = %.3g (last_hidden_state)%n"
                            + "  ours %.1f ms, ORT %.1f ms per forward (medians)%n"
                            + "  ours / ORT: %s   (goal <= 1.3)",
                    batch,
                    seq,
                    threads,
                    machine,
                    maxAbsDiff,
                    oursMs,
                    ortMs,
                    Bench.summary(ratios));
        }
    }

    static Result run(Path onnx, int rounds, int batch, int seq, int calls) throws OrtException {
        Bench.gradOff();
        int threads = Bench.torchThreads();
        long[] ids = Bench.randomIds(batch, seq, 30522, 42);
        long[] ones = new long[ids.length];
        java.util.Arrays.fill(ones, 1);
        long[] zeros = new long[ids.length];
        long[] shape = {batch, seq};
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (Model model = Bench.loadMinilm(onnx);
                NDManager manager = NDManager.newBaseManager();
                OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setIntraOpNumThreads(threads);
            options.setInterOpNumThreads(1);
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            if (!Boolean.getBoolean("bench.ortSpin")) {
                // ORT's pool threads spin-wait after each run by default; on a small machine they
                // then steal the cores libtorch's next forward needs (ours measured ~3x slower
                // when run right after a spinning ORT). -Dbench.ortSpin=true keeps ORT's default.
                options.addConfigEntry("session.intra_op.allow_spinning", "0");
            }
            try (OrtSession session = env.createSession(onnx.toString(), options)) {
                Map<String, OnnxTensor> feed = new HashMap<>();
                try {
                    for (String name : session.getInputNames()) {
                        long[] data =
                                name.contains("mask") ? ones : name.contains("type") ? zeros : ids;
                        feed.put(name, OnnxTensor.createTensor(env, LongBuffer.wrap(data), shape));
                    }
                    Block block = model.getBlock();
                    float[] ours;
                    try (NDManager scope = manager.newSubManager()) {
                        ours = oursForward(block, scope, ids, batch, seq).toFloatArray();
                    }
                    float[] theirs = ortForward(session, feed);
                    if (ours.length != theirs.length) {
                        throw new IllegalStateException(
                                "output sizes differ: " + ours.length + " vs " + theirs.length);
                    }
                    double diff = 0;
                    for (int i = 0; i < ours.length; i++) {
                        diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
                    }
                    if (!(diff < 1e-3)) {
                        throw new IllegalStateException(
                                "ours and ORT disagree: max abs diff " + diff);
                    }
                    timeOurs(block, manager, ids, batch, seq, 1); // warm-up
                    timeOrt(session, feed, 1);
                    double[] ratios = new double[rounds];
                    double[] oursMs = new double[rounds];
                    double[] ortMs = new double[rounds];
                    for (int round = 0; round < rounds; round++) {
                        double a;
                        double b;
                        if (round % 2 == 0) {
                            a = timeOurs(block, manager, ids, batch, seq, calls);
                            b = timeOrt(session, feed, calls);
                        } else {
                            b = timeOrt(session, feed, calls);
                            a = timeOurs(block, manager, ids, batch, seq, calls);
                        }
                        ratios[round] = a / b;
                        oursMs[round] = a * 1e3;
                        ortMs[round] = b * 1e3;
                    }
                    return new Result(
                            batch,
                            seq,
                            threads,
                            diff,
                            ratios,
                            Bench.median(oursMs),
                            Bench.median(ortMs),
                            Bench.machine());
                } finally {
                    feed.values().forEach(OnnxTensor::close);
                }
            }
        }
    }

    /** last_hidden_state of our model; the arrays live in {@code scope}. */
    static NDArray oursForward(Block block, NDManager scope, long[] ids, int batch, int seq) {
        NDList in = Bench.bertInputs(scope, ids, batch, seq);
        return block.forward(new ParameterStore(scope, false), in, false).head();
    }

    static float[] ortForward(OrtSession session, Map<String, OnnxTensor> feed)
            throws OrtException {
        try (OrtSession.Result out = session.run(feed)) {
            FloatBuffer fb = ((OnnxTensor) out.get(0)).getFloatBuffer();
            float[] v = new float[fb.remaining()];
            fb.get(v);
            return v;
        }
    }

    static double timeOurs(
            Block block, NDManager manager, long[] ids, int batch, int seq, int calls) {
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            try (NDManager scope = manager.newSubManager()) {
                oursForward(block, scope, ids, batch, seq).toByteBuffer(); // waits for the result
            }
        }
        return (System.nanoTime() - start) / 1e9 / calls;
    }

    static double timeOrt(OrtSession session, Map<String, OnnxTensor> feed, int calls)
            throws OrtException {
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            ortForward(session, feed);
        }
        return (System.nanoTime() - start) / 1e9 / calls;
    }
}
