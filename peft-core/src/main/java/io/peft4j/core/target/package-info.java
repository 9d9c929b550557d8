/**
 * Which modules an adapter targets, by Hugging Face peft's rules: {@link
 * io.peft4j.core.target.TargetSpec} (names, suffixes, a regex, {@code all-linear}, exclusions,
 * layer filters) and {@link io.peft4j.core.target.PatternValues} ({@code rank_pattern}/{@code
 * alpha_pattern}).
 */
package io.peft4j.core.target;
