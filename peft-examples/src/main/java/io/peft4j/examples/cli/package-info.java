/**
 * The {@code peft4j} command line ({@link io.peft4j.examples.cli.Peft4j}): demo, train, eval,
 * generate, merge and forward over Hugging Face checkpoints, ONNX BERT exports and the built-in
 * MiniLM. A program, not an API.
 */
package io.peft4j.examples.cli;
