package io.peft4j.masa;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.peft4j.core.spi.AdapterLayer;
import io.peft4j.core.spi.AdapterRuntime;
import io.peft4j.core.spi.AdditiveAdapterLayer;
import io.peft4j.core.spi.LayerCall;
import java.util.List;

/**
 * A {@link Linear} whose weight is expressed through shared matrix atoms: for the active adapter
 * {@code W = sum_s c_s D_s + R} with the frozen residual {@code R = W0 - sum_s c0_s D0_s}. It is
 * computed as {@code W0 + (c . D - c0 . D0)} (coefficient mode: {@code W0 + (c - c0) . D0}), which
 * is the same matrix and is exactly {@code W0} before training, so the start is bit-exact without
 * storing R. Holds any number of named adapters; the dictionaries (atoms) are shared objects, one
 * per projection type and group, referenced by every member layer.
 */
public final class MasaLinear extends AdditiveAdapterLayer<MasaLinear.Entry> {

    /** One dictionary: S atoms shared by a group of layers of one projection type. */
    static final class Dictionary {
        final String key;
        final NDArray initialAtoms; // D0 (S, out, in), frozen
        final Parameter atoms; // trainable D (COEFFICIENTS_AND_ATOMS), else null
        final double[] eigenvalues;

        Dictionary(String key, NDArray initialAtoms, Parameter atoms, double[] eigenvalues) {
            this.key = key;
            this.initialAtoms = initialAtoms;
            this.atoms = atoms;
            this.eigenvalues = eigenvalues;
        }

        int size() {
            return (int) initialAtoms.getShape().get(0);
        }

        void close() {
            initialAtoms.close();
            if (atoms != null) {
                atoms.close();
            }
        }
    }

    /** One adapter's state in this layer. */
    static final class Entry extends AdapterLayer.Entry {
        final Dictionary dict;
        final Parameter coefficients; // (S), trainable
        final NDArray initialCoefficients; // c0 (S), frozen

        Entry(Dictionary dict, Parameter coefficients, NDArray initialCoefficients) {
            this.dict = dict;
            this.coefficients = coefficients;
            this.initialCoefficients = initialCoefficients;
        }

        @Override
        public List<Parameter> blockParameters() {
            return List.of(
                    coefficients); // the atoms are the adapter's, shared by the dictionary's layers
        }
    }

    MasaLinear(Block base, AdapterRuntime runtime) {
        super(base, runtime);
    }

    /**
     * The atoms adapter {@code name} uses here: the shared trainable Parameter, or null in
     * coefficient mode.
     */
    Parameter sharedAtoms(String name) {
        Entry e = entry(name);
        return e == null ? null : e.dict.atoms;
    }

    @Override
    protected void release(Entry e) {
        e.coefficients.close();
        e.initialCoefficients.close();
    }

    boolean anyMerged() {
        return entries().stream().anyMatch(Entry::merged);
    }

    /**
     * The weight change {@code c . D - c0 . D0} (out, in) from the adapter's arrays as they are (no
     * gradient is recorded), in the manager of the adapter's tensors.
     */
    NDArray weightDelta(Entry e) {
        return weightDelta(e, null, e.initialCoefficients.getManager());
    }

    /**
     * The weight change attached to {@code into}; read through {@code call} (differentiable in the
     * trainable tensors in training), or from the arrays as they are when {@code call} is null.
     * Every intermediate is made in a sub-manager of {@code into} that is closed here: an op's
     * result attaches to its first operand's manager, and the first operands here are the adapter's
     * tensors, whose manager lives as long as the adapter, so each forward would otherwise leave
     * its intermediates there.
     */
    NDArray weightDelta(Entry e, LayerCall call, NDManager into) {
        NDArray c = call == null ? e.coefficients.getArray() : call.value(e.coefficients);
        NDArray c0 = e.initialCoefficients;
        NDArray d0 = e.dict.initialAtoms;
        int s = e.dict.size();
        Shape w = d0.getShape();
        try (NDManager tmp = into.newSubManager()) {
            NDArray delta;
            if (e.dict.atoms == null) {
                delta =
                        own(c.sub(c0), tmp)
                                .reshape(1, s)
                                .matMul(own(d0.reshape(s, -1), tmp))
                                .reshape(w.get(1), w.get(2));
            } else {
                NDArray d = call == null ? e.dict.atoms.getArray() : call.value(e.dict.atoms);
                NDArray now = own(c.reshape(1, s), tmp).matMul(own(d.reshape(s, -1), tmp));
                NDArray start = own(c0.reshape(1, s), tmp).matMul(own(d0.reshape(s, -1), tmp));
                delta = now.sub(start).reshape(w.get(1), w.get(2));
            }
            delta.attach(into); // out of tmp before it closes
            return delta;
        }
    }

    private static NDArray own(NDArray a, NDManager m) {
        a.attach(m);
        return a;
    }

    /** {@code x (c . D - c0 . D0)^T}: the adapter's term of a mixed batch's samples. */
    @Override
    protected NDArray delta(Entry e, LayerCall call) {
        NDArray x = call.input();
        return Linear.linear(x, weightDelta(e, call, x.getManager())).head();
    }

    /** The whole batch through {@code W0 + delta}: one GEMM, no separate base pass. */
    @Override
    protected NDList forwardWith(Entry e, LayerCall call) {
        NDArray x = call.input();
        NDArray w0 = call.value(baseWeight());
        NDArray b = baseBias() == null ? null : call.value(baseBias());
        // the delta first: the sum then lands in the call's manager, not the base weight's
        return Linear.linear(x, weightDelta(e, call, x.getManager()).add(w0), b);
    }
}
