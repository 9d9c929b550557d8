/**
 * Small tensor helpers every method needs: {@link io.peft4j.core.ops.Scalars} (scalars in
 * torch-owned memory, safe on autograd paths) and {@link io.peft4j.core.ops.Finite} (NaN/Inf
 * checks).
 */
package io.peft4j.core.ops;
