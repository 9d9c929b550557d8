package io.peft4j.masa;

/** What a MASA adapter trains. */
public enum MasaMode {
    /**
     * Only the coefficients: {@code L x S} numbers per projection type (and group); atoms frozen.
     */
    COEFFICIENTS,
    /** The coefficients and the shared atoms ({@code S x out x in} more per dictionary). */
    COEFFICIENTS_AND_ATOMS
}
