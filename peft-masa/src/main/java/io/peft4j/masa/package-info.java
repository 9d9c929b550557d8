/**
 * MASA, matrix-atom sharing in attention: projection weights expressed over shared dictionaries of
 * matrix atoms, used as fine-tuning (train the coefficients) and as compression ({@link
 * io.peft4j.masa.MasaConfig}, {@link io.peft4j.masa.MasaCompressor}).
 */
package io.peft4j.masa;
