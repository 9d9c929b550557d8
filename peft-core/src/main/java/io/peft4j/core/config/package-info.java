/**
 * Typed config values held once: a {@link io.peft4j.core.config.ConfigKey} names one setting (its
 * JSON key, default, checks and JSON form) and {@link io.peft4j.core.config.ConfigValues} holds a
 * config's values for its keys, so a config class declares each setting in one place instead of a
 * field, a builder field with its default, a copy line and a JSON line.
 */
package io.peft4j.core.config;
