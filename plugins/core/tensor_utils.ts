/**
 * Small tensor helpers shared by the plugins: one global L2 norm over a list of tensors, clipping
 * by that norm, and splitting a batch along axis 0 into micro-batches.
 *
 *   ||g|| = sqrt(sum_i sum_j g_ij^2)                       (one norm over every tensor in the list)
 *   clip(g, c) = g * min(1, c / ||g||)                     (tf.clipByGlobalNorm semantics, 0 stays 0)
 *   split n rows into p = min(n, parts) slices of sizes ceil(n/p) or floor(n/p), larger ones first
 */
import * as tf from '@tensorflow/tfjs-core';

/** Global L2 norm of a list of tensors, as a float32 scalar. An empty list gives 0. */
export function globalNorm(tensors: readonly tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    if (tensors.length === 0) return tf.scalar(0);
    const squares = tensors.map((t) => tf.sum(tf.square(t)));
    return tf.sqrt(squares.length === 1 ? squares[0] : tf.addN(squares)) as tf.Scalar;
  });
}

/**
 * Scales every tensor by min(1, clipNorm / ||g||), ||g|| the global norm of the list.
 * A zero list stays zero (no division by zero). Returns new tensors; the inputs are not disposed.
 */
export function clipByGlobalNorm(tensors: readonly tf.Tensor[], clipNorm: number): tf.Tensor[] {
  return tf.tidy(() => {
    const norm = globalNorm(tensors);
    // min(1, c / max(norm, c)) == min(1, c / norm) for norm > 0 and 1 for norm == 0.
    const scale = tf.div(clipNorm, tf.maximum(norm, clipNorm));
    return tensors.map((t) => tf.mul(t, scale));
  });
}

/**
 * Sizes of min(n, parts) slices of n rows that differ by at most one row, larger ones first
 * (numpy.array_split). n = 10, parts = 4 gives [3, 3, 2, 2]; n = 2, parts = 4 gives [1, 1].
 */
export function splitSizes(n: number, parts: number): number[] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`splitSizes: n must be a positive integer. Received: n=${n}.`);
  if (!Number.isInteger(parts) || parts < 1) {
    throw new RangeError(`splitSizes: parts must be a positive integer. Received: parts=${parts}.`);
  }
  const p = Math.min(n, parts);
  const base = Math.floor(n / p);
  const extra = n % p;
  return Array.from({ length: p }, (_, i) => base + (i < extra ? 1 : 0));
}

/** Batch size (axis 0) shared by every tensor of the list; throws when they disagree. */
export function batchSizeOf(tensors: readonly tf.Tensor[]): number {
  if (tensors.length === 0) throw new RangeError('batchSizeOf: the list of tensors is empty.');
  const n = tensors[0].shape[0];
  if (n === undefined) throw new RangeError('batchSizeOf: a scalar has no batch axis.');
  for (const t of tensors) {
    if (t.shape[0] !== n) {
      throw new RangeError(`All tensors of a batch must have the same size along axis 0. Received sizes ${tensors.map((u) => u.shape[0]).join(', ')}.`);
    }
  }
  return n;
}

/**
 * Splits every tensor of `tensors` along axis 0 with the given slice sizes.
 * Returns one array per slice: result[s][i] is slice s of tensors[i]. The caller owns the slices.
 */
export function splitBatch(tensors: readonly tf.Tensor[], sizes: readonly number[]): tf.Tensor[][] {
  const perTensor = tensors.map((t) => (sizes.length === 1 ? [t.clone()] : tf.split(t, sizes as number[], 0)));
  return sizes.map((_, s) => perTensor.map((parts) => parts[s]));
}
