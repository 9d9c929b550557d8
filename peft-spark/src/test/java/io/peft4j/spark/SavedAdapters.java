package io.peft4j.spark;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.peft4j.core.io.SafetensorsFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Reads a saved adapter's tensors as float arrays, for comparisons. */
final class SavedAdapters {

    private SavedAdapters() {}

    /** The float tensors (index tables such as LIFT's are left out). */
    static Map<String, float[]> read(Path dir) throws IOException {
        Map<String, float[]> tensors = new LinkedHashMap<>();
        try (NDManager m = NDManager.newBaseManager();
                SafetensorsFile st =
                        SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
            for (String name : st.names()) {
                NDArray a = st.load(name, m);
                if (a.getDataType().isFloating()) {
                    tensors.put(
                            name,
                            a.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray());
                }
            }
        }
        return tensors;
    }

    /** The largest absolute difference over all tensors; the key sets must match. */
    static double maxAbsDiff(Map<String, float[]> a, Map<String, float[]> b) {
        if (!a.keySet().equals(b.keySet())) {
            throw new AssertionError("tensor names differ: " + a.keySet() + " vs " + b.keySet());
        }
        double worst = 0;
        for (String k : a.keySet()) {
            float[] x = a.get(k);
            float[] y = b.get(k);
            if (x.length != y.length) {
                throw new AssertionError(k + ": " + x.length + " vs " + y.length + " values");
            }
            for (int i = 0; i < x.length; i++) {
                double d = Math.abs(x[i] - y[i]);
                if (!(d <= worst)) {
                    worst = d;
                }
            }
        }
        return worst;
    }
}
