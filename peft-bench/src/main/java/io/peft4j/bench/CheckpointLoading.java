package io.peft4j.bench;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import io.peft4j.models.HfCheckpoint;
import io.peft4j.models.LlamaForCausalLM;
import io.peft4j.models.RandomCheckpoint;
import io.peft4j.models.RandomCheckpoint.Architecture;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Loading a real-size checkpoint: a random BF16 checkpoint with a published model's shapes ({@link
 * RandomCheckpoint}, sharded with an index as Hugging Face writes them), loaded by {@link
 * HfCheckpoint#load} in a child JVM per round. Prints, per architecture:
 *
 * <ul>
 *   <li>peak RSS while loading / the model's F32 weight bytes (the peak is reset once the JVM and
 *       libtorch are up, so it is the JVM + libtorch + what loading adds; the part above that
 *       baseline is printed too);
 *   <li>load time / the time to read the same files plainly (sequential reads into one 4 MiB
 *       buffer), measured side by side in the same child, in alternating order, after one untimed
 *       read of every file: the page cache is warm for both (said in the output).
 * </ul>
 *
 * The checkpoint goes to {@code $TMPDIR/peft4j-bench/checkpoints/<arch>} and is reused while its
 * marker file is there; delete the folder when done (0.5B: 1 GB, 1B: 2.5 GB).
 *
 * <p>{@code CheckpointLoading generate <arch>} only writes the checkpoint (little memory). {@code
 * CheckpointLoading [arches] [rounds] [--tiny]}: arches is a comma list of {@code qwen2.5-0.5b},
 * {@code llama-3.2-1b}, {@code smollm2-135m}; {@code --tiny} uses a tiny shape.
 */
public final class CheckpointLoading {

    /** Shards no larger than this, so the 0.5B shape comes in two files, as the issue describes. */
    static final long MAX_SHARD_BYTES = 600_000_000L;

    private CheckpointLoading() {}

    public static void main(String[] args) throws Exception {
        // first thing: MKL's fast path on AMD CPUs (the library never installs it)
        io.peft4j.core.engine.MklCpuDispatch.install();
        if (args.length > 0 && args[0].equals("child")) {
            child(Path.of(args[1]), Integer.parseInt(args[2]));
            return;
        }
        if (args.length > 0 && args[0].equals("touch")) {
            Bench.gradOff(); // the engine up first, as in the loading child
            long[] t = firstTouch(Long.parseLong(args[1]), Boolean.parseBoolean(args[2]));
            System.out.println("RESULT " + t[0] + " " + t[1]);
            return;
        }
        if (args.length > 1 && args[0].equals("generate")) {
            // writing needs little memory: done apart from the measured (big-memory) runs
            Architecture arch = architecture(args[1]);
            System.out.println(
                    checkpoint(
                            RandomCheckpoint.builder(arch).maxShardBytes(MAX_SHARD_BYTES).build(),
                            arch));
            return;
        }
        Bench.printReport(args, "qwen2.5-0.5b", 3, CheckpointLoading::run);
    }

    static List<String> run(String cases, int rounds, boolean tiny) throws Exception {
        List<String> out = new ArrayList<>();
        out.add("# CheckpointLoading: " + Bench.machine());
        for (String name : cases.split(",")) {
            Architecture arch = tiny ? Architecture.TINY_QWEN2 : architecture(name.trim());
            RandomCheckpoint gen =
                    RandomCheckpoint.builder(arch)
                            .maxShardBytes(tiny ? 20_000 : MAX_SHARD_BYTES)
                            .build();
            long start = System.nanoTime();
            Path dir = checkpoint(gen, arch);
            double written = (System.nanoTime() - start) / 1e9;
            List<Path> files = weightFiles(dir);
            long fileBytes = 0;
            for (Path f : files) {
                fileBytes += Files.size(f);
            }
            long f32Bytes = 4 * gen.parameterCount();
            out.add(
                    String.format(
                            Locale.ROOT,
                            "%s: %,d parameters (tied once), F32 %,d bytes; %d BF16 files, %,d bytes"
                                    + " (%s, %.1f s)",
                            arch,
                            gen.parameterCount(),
                            f32Bytes,
                            files.size(),
                            fileBytes,
                            dir,
                            written));
            double[] memRatio = new double[rounds];
            double[] aboveRatio = new double[rounds];
            double[] timeRatio = new double[rounds];
            double[] cpuRatio = new double[rounds];
            double[] floorRatio = new double[rounds];
            double[] hugeFloorRatio = new double[rounds];
            double[] hugeFloorCpuRatio = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                // {peak KiB, KiB before loading, reset?, load ns, read ns, parameters loaded,
                //  load CPU ns, read CPU ns, first-touch ns, first-touch CPU ns, the same two
                //  with huge pages advised}
                settle(tiny);
                long[] loaded =
                        Bench.runChild(
                                CheckpointLoading.class,
                                List.of("child", dir.toString(), Integer.toString(r % 2)));
                // The floors in fresh processes of their own: memory a process freed a moment
                // ago comes back much cheaper on this VM than memory never touched, so a floor
                // taken after the load (or a load after a floor) would be measured on warm pages.
                long[] plainTouch = touch(f32Bytes, false, tiny);
                long[] hugeTouch = touch(f32Bytes, true, tiny);
                long[] v = java.util.Arrays.copyOf(loaded, 12);
                v[8] = plainTouch[0];
                v[9] = plainTouch[1];
                v[10] = hugeTouch[0];
                v[11] = hugeTouch[1];
                if (v[5] != gen.parameterCount()) {
                    throw new IllegalStateException(
                            "child loaded "
                                    + v[5]
                                    + " parameters, expected "
                                    + gen.parameterCount());
                }
                memRatio[r] = v[0] * 1024.0 / f32Bytes;
                aboveRatio[r] = (v[0] - v[1]) * 1024.0 / f32Bytes;
                timeRatio[r] = (double) v[3] / v[4];
                cpuRatio[r] = (double) v[6] / v[7];
                floorRatio[r] = (double) v[3] / (v[4] + v[8]);
                hugeFloorRatio[r] = (double) v[3] / (v[4] + v[10]);
                hugeFloorCpuRatio[r] = (double) v[6] / (v[7] + v[11]);
                out.add(
                        String.format(
                                Locale.ROOT,
                                "  round %d (%s first): peak RSS %,d KiB (before loading %,d KiB, "
                                        + "peak reset: %s); load %.3f s (CPU %.3f s), plain read %.3f s (CPU %.3f s), first touch of"
                                        + " F32-size fresh memory %.3f s (CPU %.3f s), the same with"
                                        + " huge pages advised %.3f s (CPU %.3f s)",
                                r + 1,
                                r % 2 == 0 ? "load" : "read",
                                v[0],
                                v[1],
                                v[2] == 1 ? "yes" : "no",
                                v[3] / 1e9,
                                v[6] / 1e9,
                                v[4] / 1e9,
                                v[7] / 1e9,
                                v[8] / 1e9,
                                v[9] / 1e9,
                                v[10] / 1e9,
                                v[11] / 1e9));
            }
            out.add(
                    "  peak RSS while loading / F32 weight bytes: "
                            + Bench.summary(memRatio)
                            + "  (goal <= 1.3)");
            out.add("  of which above the JVM + libtorch baseline: " + Bench.summary(aboveRatio));
            out.add(
                    "  load time / plain read time of the same files (page cache warm): "
                            + Bench.summary(timeRatio)
                            + "  (goal <= 3)");
            out.add("  the same in CPU time of the loading thread: " + Bench.summary(cpuRatio));
            out.add(
                    "  load time / (plain read + first touch of F32-size fresh memory): "
                            + Bench.summary(floorRatio));
            out.add(
                    "  load time / (plain read + first touch with huge pages advised, as the loader"
                            + " does): "
                            + Bench.summary(hugeFloorRatio));
            out.add("  the same in CPU time: " + Bench.summary(hugeFloorCpuRatio));
        }
        return out;
    }

    /** {wall ns, CPU ns} of the first touch of {@code bytes} in a child JVM of its own. */
    static long[] touch(long bytes, boolean hugePages, boolean tiny) throws Exception {
        settle(tiny);
        return Bench.runChild(
                CheckpointLoading.class,
                List.of("touch", Long.toString(bytes), Boolean.toString(hugePages)));
    }

    /**
     * Waits {@code -Dbench.settle.seconds} (default 8) before a measured child. On a VM whose
     * balloon driver reports free pages to the host (this project's machine), memory another
     * process freed a moment ago is still backed by the host and costs a tenth to first-touch
     * again; after a few seconds it is handed back and costs what never-used memory costs (here
     * about 1.7 s of CPU per GiB with huge pages, 3.2 s with 4 KiB pages). Without the wait each
     * child would be measured on what the previous one freed (other processes on the machine can
     * still hand over recycled memory: the wait narrows this, it cannot rule it out). No wait for
     * the tiny shape (its figures mean nothing).
     */
    static void settle(boolean tiny) throws InterruptedException {
        if (!tiny) {
            Thread.sleep(1000L * Integer.getInteger("bench.settle.seconds", 8));
        }
    }

    static Architecture architecture(String name) {
        switch (name.toLowerCase(Locale.ROOT)) {
            case "qwen2.5-0.5b":
                return Architecture.QWEN2_5_0_5B;
            case "llama-3.2-1b":
                return Architecture.LLAMA_3_2_1B;
            case "smollm2-135m":
                return Architecture.SMOLLM2_135M;
            default:
                throw new IllegalArgumentException(
                        "unknown architecture '"
                                + name
                                + "' (expected qwen2.5-0.5b, llama-3.2-1b or smollm2-135m)");
        }
    }

    /** The generated checkpoint, written once and reused while its marker exists. */
    static Path checkpoint(RandomCheckpoint gen, Architecture arch) throws IOException {
        Path dir =
                Path.of(
                        System.getProperty("java.io.tmpdir"),
                        "peft4j-bench",
                        "checkpoints",
                        arch.name().toLowerCase(Locale.ROOT));
        Path marker = dir.resolve(".complete");
        if (!Files.exists(marker)) {
            gen.write(dir);
            Files.writeString(marker, "written by peft-bench CheckpointLoading\n");
        }
        return dir;
    }

    static List<Path> weightFiles(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".safetensors"))
                    .sorted()
                    .toList();
        }
    }

    private static final java.lang.management.ThreadMXBean THREADS =
            java.lang.management.ManagementFactory.getThreadMXBean();

    /**
     * {wall ns, this thread's CPU ns} of reading every file once, sequentially, into one 4 MiB
     * buffer.
     */
    static long[] readPlainly(List<Path> files) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocateDirect(4 << 20);
        long start = System.nanoTime();
        long cpu = THREADS.getCurrentThreadCpuTime();
        long total = 0;
        for (Path f : files) {
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                for (int n; (n = ch.read(buffer.clear())) >= 0; ) {
                    total += n;
                }
            }
        }
        long[] took = {System.nanoTime() - start, THREADS.getCurrentThreadCpuTime() - cpu};
        if (total == 0) {
            throw new IllegalStateException("nothing read");
        }
        return took;
    }

    /**
     * {wall ns, CPU ns} of the first write to {@code bytes} of fresh engine memory, one byte per 4
     * KiB page, in 256 MiB arrays freed as it goes: what any loader that makes F32 arrays pays for
     * page faults and zeroing, however it reads.
     */
    static long[] firstTouch(long bytes, boolean hugePages) {
        long start = System.nanoTime();
        long cpu = THREADS.getCurrentThreadCpuTime();
        try (NDManager m = NDManager.newBaseManager()) {
            for (long done = 0; done < bytes; done += 256L << 20) {
                long n = Math.min(256L << 20, bytes - done) / 4;
                try (ai.djl.ndarray.NDArray a =
                        m.create(
                                new ai.djl.ndarray.types.Shape(n),
                                ai.djl.ndarray.types.DataType.FLOAT32)) {
                    ByteBuffer b = a.toByteBuffer(true);
                    if (hugePages) {
                        adviseHugePages(b);
                    }
                    for (int i = 0; i < b.capacity(); i += 4096) {
                        b.put(i, (byte) 1);
                    }
                }
            }
        }
        return new long[] {System.nanoTime() - start, THREADS.getCurrentThreadCpuTime() - cpu};
    }

    /**
     * {@code madvise(MADV_HUGEPAGE)} over the 2 MiB-aligned part of {@code direct}, as the loader
     * does for its large arrays (peft-core's {@code HugePages}, package-private there).
     */
    static void adviseHugePages(ByteBuffer direct) {
        long huge = 2L << 20;
        long address =
                com.sun.jna.Pointer.nativeValue(com.sun.jna.Native.getDirectBufferPointer(direct));
        long from = (address + huge - 1) & -huge;
        long to = (address + direct.capacity()) & -huge;
        if (to > from) {
            com.sun.jna.NativeLibrary.getInstance("c")
                    .getFunction("madvise")
                    .invokeInt(new Object[] {new com.sun.jna.Pointer(from), to - from, 14});
        }
    }

    /**
     * In the child: start the engine, warm the page cache, then time the plain read and the load
     * (order by {@code readFirst}), with the peak RSS reset just before the load. (The first-touch
     * floors run in children of their own, {@link #touch}.)
     */
    static void child(Path dir, int readFirst) throws IOException {
        Bench.gradOff(); // the engine and libtorch are loaded here, before the peak is reset
        try (NDManager m = NDManager.newBaseManager()) {
            m.ones(new ai.djl.ndarray.types.Shape(4)).sum().getFloat();
        }
        List<Path> files = weightFiles(dir);
        readPlainly(files); // untimed: the page cache holds the files for both timings
        long[] read = null;
        if (readFirst == 1) {
            read = readPlainly(files);
        }
        boolean reset = Bench.resetPeakRss();
        long before = Bench.rssKb();
        long start = System.nanoTime();
        long cpu = THREADS.getCurrentThreadCpuTime();
        long params;
        long peak;
        long loaded;
        long loadedCpu;
        try (Model model = HfCheckpoint.load(dir, Device.cpu())) {
            loaded = System.nanoTime() - start;
            loadedCpu = THREADS.getCurrentThreadCpuTime() - cpu;
            peak = Bench.peakRssKb();
            params = uniqueParameters((LlamaForCausalLM) model.getBlock());
            if (readFirst == 0) {
                read = readPlainly(files);
            }
        }
        System.out.println(
                "RESULT "
                        + peak
                        + " "
                        + before
                        + " "
                        + (reset ? 1 : 0)
                        + " "
                        + loaded
                        + " "
                        + read[0]
                        + " "
                        + params
                        + " "
                        + loadedCpu
                        + " "
                        + read[1]);
        Engine.getEngine("PyTorch"); // keeps the engine referenced to the end
    }

    /** Parameters counted once per tied group (lm_head shares the embedding's storage). */
    static long uniqueParameters(LlamaForCausalLM model) {
        IdentityHashMap<Parameter, Boolean> tied = new IdentityHashMap<>();
        model.tiedCopies().forEach(p -> tied.put(p, true));
        long n = 0;
        for (Parameter p : model.namedParameters().values()) {
            if (!tied.containsKey(p)) {
                n += p.getArray().size();
            }
        }
        return n;
    }
}
