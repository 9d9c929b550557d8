/**
 * ShadowPEFT: a small depth-shared shadow network that runs beside the frozen base and corrects
 * each layer's hidden state ({@link io.peft4j.shadow.ShadowConfig}, {@code ShadowNetwork}), with a
 * detached mode and shadow pretraining.
 */
package io.peft4j.shadow;
