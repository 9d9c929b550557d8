/**
 * peft4j core: what every parameter-efficient fine-tuning method shares. It names no method;
 * methods register through {@link java.util.ServiceLoader}.
 */
package io.peft4j.core;
