package io.peft4j.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.peft4j.core.linalg.RandomizedSvd;

/**
 * OLoRA ({@code init_lora_weights="olora"}, Büyükakyüz 2024), as Hugging Face peft's {@code
 * olora_init}: with the QR decomposition {@code W = Q R}, {@code B = Q[:, :r]} (orthonormal
 * columns) and {@code A = R[:r, :] = B^T W}, and W replaced by the residual {@code W - s B A}, so
 * the start is exact. {@code Q[:, :r]} spans W's first r columns: it is taken from their QR alone
 * (Householder, in double precision), and {@code A} from {@code B^T W}, instead of a QR of all of
 * W. Up to the signs of the columns of Q (a symmetry of the adapter, which training does not see)
 * this is peft's A and B. The residual is undone when the adapter is detached unmerged. Linear
 * only, and {@code r <= min(out, in)}.
 */
final class OloraInit extends ResidualInit {

    /** The one instance: the init has no settings. */
    static final OloraInit INSTANCE = new OloraInit();

    private OloraInit() {}

    @Override
    public String name() {
        return "OLoRA init";
    }

    @Override
    NDArray[] factors(String path, NDArray weight, LoraLayer.Weights w, NDManager scratch) {
        Shape shape = weight.getShape();
        int r = w.rank();
        if (r > Math.min(shape.get(0), shape.get(1))) {
            throw new IllegalArgumentException(
                    "OLoRA init needs r <= min(out, in): r="
                            + r
                            + " for '"
                            + path
                            + "' of weight "
                            + shape);
        }
        NDArray first = weight.get(":, :" + r); // (out, r)
        NDArray b = RandomizedSvd.orthonormalize(first, scratch); // Q[:, :r]
        NDArray a = b.transpose().matMul(weight); // R[:r, :] = Q[:, :r]^T W
        a.attach(scratch);
        return new NDArray[] {a, b};
    }
}
