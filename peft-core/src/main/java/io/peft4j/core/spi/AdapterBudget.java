package io.peft4j.core.spi;

import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;

/**
 * Sizes from a file or an argument (ranks, layer counts, widths) are checked here before anything
 * is allocated: a product that overflows, or an adapter larger than the budget, is an error naming
 * the key and the limit instead of an OutOfMemoryError (or a native abort) after gigabytes.
 *
 * <p>The budget is four times the base model's parameter count, and at least 2^22 elements (16 MiB
 * of float32): a parameter-efficient adapter is a small fraction of its model, so anything above
 * that is a mistake in the config, not a real adapter. The system property {@code
 * peft4j.adapterBudgetElements} sets another budget.
 */
public final class AdapterBudget {

    /** The smallest budget, in elements, whatever the model's size. */
    public static final long MIN_ELEMENTS = 1L << 22;

    private AdapterBudget() {}

    /**
     * The element budget of an adapter on {@code root}.
     *
     * @param root the base model
     * @return the largest number of adapter elements accepted
     */
    public static long limit(Block root) {
        Long set = Long.getLong("peft4j.adapterBudgetElements");
        if (set != null && set > 0) {
            return set;
        }
        long base = 0;
        for (Pair<String, Parameter> p : root.getParameters()) {
            if (p.getValue().isInitialized()) {
                base += p.getValue().getArray().size();
            }
        }
        return Math.max(MIN_ELEMENTS, base > Long.MAX_VALUE / 4 ? Long.MAX_VALUE : 4 * base);
    }

    /**
     * Refuses an adapter of {@code elements} elements when it is over the budget.
     *
     * @param what what the size comes from, with the keys as the user wrote them (e.g. {@code "MoS
     *     r=100000 on layers.*.q_proj (in 64, out 64)"})
     * @param elements the elements the adapter would allocate
     * @param root the base model
     * @throws IllegalArgumentException naming {@code what}, the size and the limit
     */
    public static void check(String what, long elements, Block root) {
        long limit = limit(root);
        if (elements < 0 || elements > limit) {
            throw new IllegalArgumentException(
                    what
                            + " would allocate "
                            + (elements < 0 ? "more than 2^63" : elements)
                            + " adapter elements, over the budget of "
                            + limit
                            + " (4x the base model's parameters;"
                            + " -Dpeft4j.adapterBudgetElements to change)");
        }
    }

    /**
     * The product of sizes, or an error naming {@code what} when it overflows a long.
     *
     * @param what names the sizes, for the message
     * @param factors the sizes (each >= 0)
     * @return their product
     * @throws IllegalArgumentException on overflow or a negative size
     */
    public static long product(String what, long... factors) {
        long p = 1;
        for (long f : factors) {
            if (f < 0) {
                throw new IllegalArgumentException(what + ": negative size " + f);
            }
            try {
                p = Math.multiplyExact(p, f);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException(
                        what
                                + ": the sizes overflow (product of "
                                + java.util.Arrays.toString(factors)
                                + ")");
            }
        }
        return p;
    }

    /**
     * The sum of sizes, or an error naming {@code what} when it overflows a long.
     *
     * @param what names the sizes, for the message
     * @param terms the sizes
     * @return their sum
     */
    public static long sum(String what, long... terms) {
        long s = 0;
        for (long t : terms) {
            try {
                s = Math.addExact(s, t);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException(what + ": the sizes overflow");
            }
        }
        return s;
    }
}
