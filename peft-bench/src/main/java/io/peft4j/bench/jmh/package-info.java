/** JMH microbenchmarks (the LoRA {@code Linear} forward), with a short smoke run in CI. */
package io.peft4j.bench.jmh;
