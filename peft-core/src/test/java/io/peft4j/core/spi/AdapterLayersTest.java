package io.peft4j.core.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import com.google.gson.JsonObject;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.tree.ModuleNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The shared layer pieces on a toy method whose adapter adds a dense delta {@code D} to a Linear's
 * weight: wrapping and restoring, which adapter a forward runs, all-or-nothing merges, and the
 * method registry base.
 */
class AdapterLayersTest {

    /** The toy method's layer: {@code y = W x + b + D x} for the selected adapter. */
    static final class DeltaLayer extends AdapterLayer<DeltaLayer.Delta> {

        static final class Delta extends AdapterLayer.Entry {
            final Parameter d;
            boolean released;

            Delta(Parameter d) {
                this.d = d;
            }

            @Override
            public List<Parameter> blockParameters() {
                return List.of(d);
            }
        }

        private final Parameter weight;

        DeltaLayer(Block base, AdapterRuntime runtime) {
            super(base, runtime);
            this.weight = base.getDirectParameters().get("weight");
        }

        @Override
        public Parameter baseWeight() {
            return weight;
        }

        @Override
        protected void release(Delta e) {
            e.released = true;
        }

        @Override
        protected NDList forwardWith(Delta e, LayerCall call) {
            return call.adaptBaseHead(
                    y -> y.add(Linear.linear(call.input(), e.d.getArray()).head()));
        }

        @Override
        protected NDArray blendIn(Delta e, NDArray y, NDArray rowMask, LayerCall call) {
            return y.add(Linear.linear(call.input(), e.d.getArray()).head().mul(rowMask));
        }
    }

    private NDManager manager;
    private Block model;
    private AdapterRuntime runtime;
    private AdapterContext ctx;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
        model = TestModels.mlp(manager, 3);
        runtime = new AdapterRuntime();
        ctx = new AdapterContext(model, manager, runtime);
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private AdapterLayers<DeltaLayer, DeltaLayer.Delta> attach(
            String adapter, float value, String... paths) {
        AdapterLayers<DeltaLayer, DeltaLayer.Delta> layers = new AdapterLayers<>(ctx, adapter);
        for (String path : paths) {
            layers.attach(
                    ctx.tree().get(path),
                    DeltaLayer.class,
                    b -> new DeltaLayer(b, runtime),
                    layer -> {
                        Shape shape = layer.baseWeight().getArray().getShape();
                        NDArray d = manager.full(shape, value);
                        return new DeltaLayer.Delta(
                                Parameter.builder()
                                        .setName("delta." + adapter)
                                        .setType(Parameter.Type.WEIGHT)
                                        .optArray(d)
                                        .build());
                    });
        }
        return layers;
    }

    private Block at(String path) {
        return ctx.tree().get(path).block();
    }

    @Test
    void attachWrapsOnceAndDetachPutsBackWhatNoAdapterUses() {
        Block first = at("Linear_1");
        Block last = at("Linear_3");
        AdapterLayers<DeltaLayer, DeltaLayer.Delta> a = attach("a", 0.1f, "Linear_1", "Linear_3");
        AdapterLayers<DeltaLayer, DeltaLayer.Delta> b = attach("b", 0.2f, "Linear_1");
        DeltaLayer wrapper = (DeltaLayer) at("Linear_1");
        assertSame(first, wrapper.baseLayer());
        assertSame(
                wrapper,
                b.layer("Linear_1"),
                "a second adapter goes into the wrapper already there");
        assertEquals(Set.of("a", "b"), wrapper.adapterNames());
        assertEquals(List.of("Linear_1", "Linear_3"), a.paths());
        assertTrue(wrapper.getDirectParameters().contains("delta.a"));
        assertEquals("DeltaLayer(Linear, adapters=[a, b])", wrapper.toString());

        DeltaLayer.Delta entry = a.entry("Linear_1");
        a.detach();
        assertTrue(entry.released);
        assertSame(wrapper, at("Linear_1"), "b still uses it");
        assertEquals(Set.of("b"), wrapper.adapterNames());
        assertFalse(
                wrapper.getDirectParameters().contains("delta.a"), "a's tensors are unregistered");
        assertSame(last, at("Linear_3"), "no adapter left: the module is back");
        assertTrue(a.paths().isEmpty());

        b.detach();
        assertSame(first, at("Linear_1"));
    }

    @Test
    void forwardRunsTheSelectedAdaptersButNeverAMergedOne() {
        Block base = at("Linear_1");
        attach("a", 0.1f, "Linear_1");
        AdapterLayers<DeltaLayer, DeltaLayer.Delta> b = attach("b", -0.3f, "Linear_1");
        DeltaLayer layer = (DeltaLayer) at("Linear_1");
        ParameterStore ps = new ParameterStore(manager, false);
        NDArray x = manager.randomNormal(new Shape(3, 8));
        NDArray baseY = base.forward(ps, new NDList(x), false).head();
        NDArray yA = baseY.add(x.sum(new int[] {1}, true).mul(0.1f));
        NDArray yB = baseY.add(x.sum(new int[] {1}, true).mul(-0.3f));

        assertClose(baseY, layer.forward(ps, new NDList(x), false).head()); // no active adapter
        runtime.setActiveAdapter("a");
        assertClose(yA, layer.forward(ps, new NDList(x), false).head());
        runtime.setDisabled(true);
        assertClose(baseY, layer.forward(ps, new NDList(x), false).head());
        runtime.setDisabled(false);

        runtime.setOverride(Selection.perSample(List.of("b", Selection.BASE, "a")));
        NDArray mixed = layer.forward(ps, new NDList(x), false).head();
        assertClose(yB.get("0:1"), mixed.get("0:1"));
        assertClose(baseY.get("1:2"), mixed.get("1:2"));
        assertClose(yA.get("2:3"), mixed.get("2:3"));
        assertThrows(
                IllegalStateException.class,
                () -> layer.forward(ps, new NDList(x), true),
                "mixed batches are inference only");
        runtime.setOverride(Selection.perSample(List.of("a", "b")));
        assertThrows(
                IllegalArgumentException.class,
                () -> layer.forward(ps, new NDList(x), false),
                "one name per sample");

        b.entry("Linear_1").setMerged(true); // the base module computes it now
        runtime.setOverride(Selection.single("b"));
        assertClose(baseY, layer.forward(ps, new NDList(x), false).head());
        runtime.setOverride(null);
    }

    @Test
    void mergeIsAllOrNothing() {
        AdapterLayers<DeltaLayer, DeltaLayer.Delta> a = attach("a", 0.25f, "Linear_1", "Linear_3");
        NDArray w1 = a.layer("Linear_1").baseWeight().getArray();
        NDArray w3 = a.layer("Linear_3").baseWeight().getArray();
        NDArray before1 = w1.duplicate();
        NDArray before3 = w3.duplicate();
        AdapterLayers.MergedWeight<DeltaLayer, DeltaLayer.Delta> plus =
                (path, layer, e) -> layer.baseWeight().getArray().add(e.d.getArray());
        AdapterLayers.Install<DeltaLayer, DeltaLayer.Delta> install =
                (layer, e, merged) -> {
                    merged.copyTo(layer.baseWeight().getArray());
                    e.setMerged(true);
                };

        a.entry("Linear_3").d.getArray().set(new NDIndex("0, 0"), Float.NaN);
        ArithmeticException ex =
                assertThrows(
                        ArithmeticException.class,
                        () -> a.mergeAllOrNothing("toy adapter", plus, install));
        assertEquals(
                "Merging toy adapter 'a' into 'Linear_3.weight' would produce NaN or Inf; weights left untouched",
                ex.getMessage());
        assertClose(before1, w1); // the first layer's finite result was not written either
        assertClose(before3, w3);
        assertFalse(a.anyMerged());

        a.entry("Linear_3").d.getArray().set(new NDIndex("0, 0"), 0.25f);
        a.mergeAllOrNothing("toy adapter", plus, install);
        assertTrue(a.anyMerged());
        assertClose(before1.add(0.25f), w1);
        assertClose(before3.add(0.25f), w3);
        a.mergeAllOrNothing(
                "toy adapter",
                (path, layer, e) -> {
                    throw new AssertionError("an adapter already merged is not merged again");
                },
                install);
        List<String> merged = new ArrayList<>();
        a.forEachMerged((path, layer, e) -> merged.add(path));
        assertEquals(List.of("Linear_1", "Linear_3"), merged);
    }

    @Test
    void wrapperAtRefusesAnotherMethodsWrapper() {
        ModuleNode plain = ctx.tree().get("Linear_1");
        assertNull(AdapterLayers.wrapperAt(plain, DeltaLayer.class));
        attach("a", 0.1f, "Linear_1");
        ModuleNode wrapped = ctx.tree().get("Linear_1");
        assertSame(wrapped.block(), AdapterLayers.wrapperAt(wrapped, DeltaLayer.class));
        IllegalArgumentException ex =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> AdapterLayers.wrapperAt(wrapped, Linear.class));
        assertEquals(
                "Module 'Linear_1' already carries an adapter of another method (DeltaLayer); one method per module",
                ex.getMessage());
    }

    @Test
    void methodBaseDelegatesAndKeepsThePlainConfigCast() {
        PeftMethod tiny =
                new AbstractPeftMethod<TinyConfig>(
                        TinyConfig.PEFT_TYPE,
                        TinyConfig.class,
                        TinyConfig::fromJson,
                        (context, config, name) -> {
                            throw new AssertionError("not reached: " + config.size);
                        }) {};
        assertEquals("TINY", tiny.peftType());
        assertEquals(TinyConfig.class, tiny.configType());
        JsonObject json = TinyConfig.builder().size(3).targets("q_proj").build().toJson();
        assertEquals(3, ((TinyConfig) tiny.parseConfig(json, w -> {})).size);
        AdapterConfig other =
                new AdapterConfig() {
                    @Override
                    public String peftType() {
                        return "OTHER";
                    }

                    @Override
                    public JsonObject toJson() {
                        return new JsonObject();
                    }
                };
        assertThrows(ClassCastException.class, () -> tiny.attach(ctx, other, "x"));
    }

    private static void assertClose(NDArray expected, NDArray actual) {
        assertTrue(
                TestModels.maxAbsDiff(expected, actual) < 1e-5f,
                "expected " + expected + " got " + actual);
    }
}
