/**
 * Process-level engine set-up that must happen before libtorch's first GEMM: {@link
 * io.peft4j.core.engine.MklCpuDispatch} lets oneMKL take its fast paths on AMD CPUs. Nothing here
 * runs unless called explicitly.
 */
package io.peft4j.core.engine;
