/**
 * Small linear algebra that DJL lacks (it has no SVD, QR or eigen solver): a dense symmetric eigen
 * solver for small matrices on the JVM ({@link io.peft4j.core.linalg.SymmetricEigen}) and a
 * randomized truncated SVD that keeps the large products on the engine ({@link
 * io.peft4j.core.linalg.RandomizedSvd}). Used by PiSSA initialisation, LIFT and MASA.
 *
 * <p>Convention: float32 on the engine side, double on the JVM side.
 */
package io.peft4j.core.linalg;
