/**
 * The layer objective (Behdin et al. 2023, eq. 1; Frantar et al. 2023, eq. 1):
 *
 *   f(What) = ||X W^T - X What^T||_F^2 = tr(D S D^T),   D = W - What,  S = X^T X
 *   relative error = f(What) / tr(W S W^T)     (0 when tr(W S W^T) = 0)
 *
 * Computed with one untransposed tfjs matMul: sum((D S) ⊙ D).
 */
import * as tf from '@tensorflow/tfjs-core';

/** tr(D S D^T) for D [rows, cols] (row-major) and S as a tensor [cols, cols]. */
export function quadraticForm(d: Float32Array, rows: number, cols: number, sigma: tf.Tensor2D): number {
  const total = tf.tidy(() => {
    const dt = tf.tensor2d(d, [rows, cols]);
    return tf.sum(tf.mul(tf.matMul(dt, sigma), dt));
  });
  const value = total.dataSync()[0];
  total.dispose();
  // S is positive semi-definite, so a negative sum is float32 round-off of a near-zero D.
  return Math.max(0, value);
}

/** f(What) = tr((W - What) S (W - What)^T). */
export function layerObjective(w: Float32Array, what: Float32Array, rows: number, cols: number, sigma: tf.Tensor2D): number {
  const d = new Float32Array(w.length);
  for (let i = 0; i < d.length; i++) d[i] = w[i] - what[i];
  return quadraticForm(d, rows, cols, sigma);
}

/** f / baseline, with 0 / 0 = 0. */
export function relativeError(objective: number, baseline: number): number {
  return baseline > 0 ? objective / baseline : 0;
}

/** f per row: [(W - What) S (W - What)^T]_rr, [rows] (rows are independent terms of f). */
export function rowObjectives(w: Float32Array, what: Float32Array, rows: number, cols: number, sigma: tf.Tensor2D): Float64Array {
  const d = new Float32Array(w.length);
  for (let i = 0; i < d.length; i++) d[i] = w[i] - what[i];
  const perRow = tf.tidy(() => {
    const dt = tf.tensor2d(d, [rows, cols]);
    return tf.sum(tf.mul(tf.matMul(dt, sigma), dt), 1);
  });
  const v = Float64Array.from(perRow.dataSync());
  perRow.dispose();
  return v;
}
