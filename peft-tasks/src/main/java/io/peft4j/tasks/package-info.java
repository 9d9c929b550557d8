/**
 * Reusable training tasks: data readers for TSV, JSONL, JSON and plain text ({@link
 * io.peft4j.tasks.DataReaders}), sequence classification ({@link
 * io.peft4j.tasks.ClassificationTask}) and causal language modelling ({@link
 * io.peft4j.tasks.CausalLmTask}), each a training data set and loss for the fine-tuner, with
 * evaluation.
 */
package io.peft4j.tasks;
