package io.peft4j.core.train;

import static com.google.common.base.Preconditions.checkArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Gradient clipping by global norm, as PyTorch's {@code clip_grad_norm_}. DJL's {@code optClipGrad}
 * clips each element from above only, which is neither a norm clip nor symmetric.
 */
public final class GradientClipping {

    /** PyTorch's guard against division by zero in the clip coefficient. */
    private static final double EPS = 1e-6;

    private GradientClipping() {}

    /**
     * Scales all gradients in place by {@code min(1, maxNorm / (norm + 1e-6))}, where {@code norm}
     * is the L2 norm of all gradients taken together, so the update direction is kept.
     *
     * <p>Parameters whose arrays carry no gradient are ignored. When the norm is NaN or infinite
     * the gradients are left as they are, and the norm is returned so the caller can stop.
     *
     * @param params the parameters whose gradients to clip
     * @param maxNorm the largest allowed global norm, finite and > 0
     * @return the global norm before clipping (0 when no parameter has a gradient)
     */
    public static float clipGlobalNorm(Collection<Parameter> params, float maxNorm) {
        checkArgument(
                Float.isFinite(maxNorm) && maxNorm > 0,
                "maxNorm must be finite and > 0, got %s",
                maxNorm);
        List<NDArray> arrays = new ArrayList<>();
        for (Parameter param : params) {
            NDArray array = param.getArray();
            if (array.hasGradient()) {
                arrays.add(array);
            }
        }
        if (arrays.isEmpty()) {
            return 0f;
        }
        // A scratch manager owns the gradient handles and every temporary: nothing survives the
        // call.
        try (NDManager scratch = arrays.get(0).getManager().newSubManager()) {
            List<NDArray> grads = new ArrayList<>(arrays.size());
            NDArray sumOfSquares = null;
            for (NDArray array : arrays) {
                NDArray grad = array.getGradient();
                grad.attach(scratch);
                grads.add(grad);
                // Squares summed in float32 at least, so half-precision gradients cannot overflow.
                NDArray squares =
                        grad.getDataType() == DataType.FLOAT64
                                ? grad.square().sum()
                                : grad.toType(DataType.FLOAT32, false).square().sum();
                squares.attach(scratch);
                if (sumOfSquares == null) {
                    sumOfSquares = squares;
                } else {
                    sumOfSquares =
                            sumOfSquares.add(
                                    squares.toDevice(sumOfSquares.getDevice(), false)
                                            .toType(sumOfSquares.getDataType(), false));
                }
            }
            float norm =
                    (float) Math.sqrt(sumOfSquares.toType(DataType.FLOAT64, false).getDouble());
            if (!Float.isFinite(norm)) {
                return norm;
            }
            double coefficient = maxNorm / (norm + EPS);
            if (coefficient < 1) {
                for (NDArray grad : grads) {
                    grad.muli(coefficient);
                }
            }
            return norm;
        }
    }
}
