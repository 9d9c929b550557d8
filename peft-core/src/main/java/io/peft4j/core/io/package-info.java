/**
 * File I/O shared by every method: a strict, memory-mapped safetensors reader ({@link
 * io.peft4j.core.io.SafetensorsFile}), a streaming safetensors writer ({@link
 * io.peft4j.core.io.SafetensorsWriter}) and crash-safe file replacement ({@link
 * io.peft4j.core.io.AtomicFiles}).
 *
 * <p>DJL's own safetensors support ({@code NDList.encode/decode}) is not used: it writes no {@code
 * __metadata__}, no header padding, no stable order, buffers the whole payload in one {@code
 * byte[]}, and aborts the JVM on BF16 files.
 */
package io.peft4j.core.io;
