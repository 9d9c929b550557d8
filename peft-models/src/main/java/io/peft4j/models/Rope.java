package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;

/**
 * Rotary position embedding in Hugging Face's rotate-half layout: the first and second halves of
 * each head are the two coordinates of each rotated pair (not interleaved pairs as in Meta's code).
 */
final class Rope {

    private Rope() {}

    /**
     * cos and sin tables for the given positions.
     *
     * @param positions (B, T) positions, any numeric type, on the target device
     * @param headDim width of one head (even)
     * @param theta RoPE base
     * @param linearScale linear scaling factor: positions are divided by it
     * @param dataType type of the returned tables
     * @return [cos, sin], each (B, 1, T, headDim)
     */
    static NDList cosSin(
            NDArray positions, int headDim, double theta, double linearScale, DataType dataType) {
        int half = headDim / 2;
        float[] invFreq = new float[half];
        for (int j = 0; j < half; j++) {
            invFreq[j] = (float) (1.0 / Math.pow(theta, (2.0 * j) / headDim) / linearScale);
        }
        NDArray inv = positions.getManager().create(invFreq).reshape(1, 1, half);
        NDArray freqs = positions.toType(DataType.FLOAT32, false).expandDims(-1).mul(inv);
        NDArray angles = freqs.concat(freqs, -1);
        NDArray cos = angles.cos().toType(dataType, false).expandDims(1);
        NDArray sin = angles.sin().toType(dataType, false).expandDims(1);
        return new NDList(cos, sin);
    }
}
