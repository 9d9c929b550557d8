package io.peft4j.models;

/** Saturating arithmetic for sizes computed from untrusted config values. */
final class Sizes {

    private Sizes() {}

    /**
     * @return the product, or {@link Long#MAX_VALUE} when it overflows (factors are >= 0)
     */
    static long mul(long... factors) {
        long p = 1;
        for (long f : factors) {
            try {
                p = Math.multiplyExact(p, f);
            } catch (ArithmeticException e) {
                return Long.MAX_VALUE;
            }
        }
        return p;
    }

    /**
     * @return the sum, or {@link Long#MAX_VALUE} when it overflows (terms are >= 0)
     */
    static long add(long... terms) {
        long s = 0;
        for (long t : terms) {
            try {
                s = Math.addExact(s, t);
            } catch (ArithmeticException e) {
                return Long.MAX_VALUE;
            }
        }
        return s;
    }
}
