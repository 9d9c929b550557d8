/**
 * Benchmarks that print ratios measured side by side in one run (and peak memory), never absolute
 * times alone; see the module's README for each harness and its command.
 */
package io.peft4j.bench;
