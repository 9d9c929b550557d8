package io.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.SymbolBlock;
import ai.djl.training.ParameterStore;
import io.peft4j.core.PeftModel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real TorchScript model, loaded by DJL's PyTorch engine as users get one ({@code Model.load} of
 * a {@code .pt} file gives a {@code PtSymbolBlock}), is refused with the error that says why and
 * what to do instead. The archive is written here, in Java, at test time (no {@code .pt} file in
 * the repository, no Python needed): the layout {@code torch.jit.save} writes for a module with one
 * parameter, {@code y = x * weight}.
 */
class TorchScriptModelTest {

    /** The module's parameter, stored little-endian in {@code data/0}. */
    private static final float[] WEIGHT = {2f, -1f, 0.5f};

    @TempDir Path tmp;

    @Test
    void aLoadedTorchScriptModelRunsAndIsRefusedWithTheSymbolBlockError() throws Exception {
        Path file = tmp.resolve("scale.pt");
        writeScaleModule(file);
        try (Model model = Model.newInstance("scale", "PyTorch");
                NDManager manager = NDManager.newBaseManager()) {
            model.load(tmp, "scale");
            // it is a real TorchScript module: libtorch runs it
            assertInstanceOf(SymbolBlock.class, model.getBlock());
            assertTrue(
                    model.getBlock().getClass().getName().contains("PtSymbolBlock"),
                    model.getBlock().getClass().getName());
            NDArray x = manager.create(new float[] {1f, 3f, 4f});
            NDArray y =
                    model.getBlock()
                            .forward(new ParameterStore(manager, false), new NDList(x), false)
                            .head();
            assertArrayEquals(new float[] {2f, -3f, 2f}, y.toFloatArray(), 0f);

            String before = model.getBlock().getParameters().keys().toString();
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> PeftModel.wrap(model, LoraConfig.builder().allLinear().build()));
            assertTrue(
                    e.getMessage().contains("PtSymbolBlock")
                            && e.getMessage().contains("TorchScript")
                            && e.getMessage().contains("no modules to wrap")
                            && e.getMessage().contains("HfCheckpoint"),
                    e.getMessage());
            assertThrows(
                    IllegalArgumentException.class,
                    () ->
                            PeftModel.wrap(
                                    model.getBlock(),
                                    LoraConfig.builder().targets("weight").build()));
            // refusing changed nothing: the module still runs and gives the same values
            assertTrue(before.equals(model.getBlock().getParameters().keys().toString()));
            assertArrayEquals(
                    new float[] {2f, -3f, 2f},
                    model.getBlock()
                            .forward(new ParameterStore(manager, false), new NDList(x), false)
                            .head()
                            .toFloatArray(),
                    0f);
        }
    }

    /**
     * Writes the TorchScript archive of {@code class Scale(Module)} with parameter {@code weight}
     * and {@code forward(x) = torch.mul(x, weight)}: a zip of stored entries under one root folder,
     * holding the pickled module object ({@code data.pkl}, protocol 2, the tensor as a persistent
     * reference to storage {@code data/0}), the module's TorchScript source ({@code code/}), the
     * constants table and the format version.
     */
    static void writeScaleModule(Path file) throws IOException {
        String code =
                "class Scale(Module):\n"
                        + "  __parameters__ = [\"weight\", ]\n"
                        + "  __buffers__ = []\n"
                        + "  weight : Tensor\n"
                        + "  training : bool\n"
                        + "  def forward(self: __torch__.Scale,\n"
                        + "    x: Tensor) -> Tensor:\n"
                        + "    weight = self.weight\n"
                        + "    return torch.mul(x, weight)\n";
        Pickle data = new Pickle();
        data.global("__torch__", "Scale").emptyTuple().op(0x81); // NEWOBJ
        data.op('}').mark(); // EMPTY_DICT, then its items
        data.string("weight").global("torch._utils", "_rebuild_tensor_v2").mark();
        data.mark()
                .string("storage")
                .global("torch", "FloatStorage")
                .string("0")
                .string("cpu")
                .int1(WEIGHT.length)
                .op('t') // TUPLE: the storage reference
                .op('Q'); // BINPERSID: resolved to data/0 by the loader
        data.int1(0); // storage offset
        data.mark().int1(WEIGHT.length).op('t'); // size
        data.mark().int1(1).op('t'); // stride
        data.op(0x88); // requires_grad
        data.global("collections", "OrderedDict").emptyTuple().op('R'); // backward hooks
        data.op('t').op('R'); // _rebuild_tensor_v2(...)
        data.string("training").op(0x88);
        data.op('u').op('b').op('.'); // SETITEMS, BUILD, STOP
        ByteBuffer weight = ByteBuffer.allocate(4 * WEIGHT.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : WEIGHT) {
            weight.putFloat(v);
        }
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put("scale/data.pkl", data.bytes());
        entries.put("scale/code/__torch__.py", code.getBytes(StandardCharsets.UTF_8));
        entries.put("scale/data/0", weight.array());
        entries.put("scale/constants.pkl", new Pickle().emptyTuple().op('.').bytes());
        entries.put("scale/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        try (OutputStream out = Files.newOutputStream(file);
                ZipOutputStream zip = new ZipOutputStream(out)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                ZipEntry entry = new ZipEntry(e.getKey());
                entry.setMethod(ZipEntry.STORED);
                entry.setSize(e.getValue().length);
                CRC32 crc = new CRC32();
                crc.update(e.getValue());
                entry.setCrc(crc.getValue());
                zip.putNextEntry(entry);
                zip.write(e.getValue());
                zip.closeEntry();
            }
        }
    }

    /** The few pickle (protocol 2) opcodes a TorchScript module object needs. */
    private static final class Pickle {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Pickle() {
            out.write(0x80); // PROTO 2
            out.write(2);
        }

        Pickle op(int code) {
            out.write(code);
            return this;
        }

        Pickle mark() {
            return op('(');
        }

        Pickle emptyTuple() {
            return op(')');
        }

        Pickle int1(int v) {
            op('K');
            out.write(v);
            return this;
        }

        Pickle global(String module, String name) {
            op('c');
            out.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
            return this;
        }

        Pickle string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            op('X');
            out.writeBytes(
                    ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
            out.writeBytes(b);
            return this;
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }
}
