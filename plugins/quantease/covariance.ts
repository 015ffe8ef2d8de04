/**
 * Streams calibration inputs into the second-moment matrix of a layer:
 *
 *   S = X^T X = sum over batches b of X_b^T X_b        X_b [n_b, in],  S [in, in]
 *
 * Memory O(in^2), whatever the number of rows. Accumulated in float32 with tfjs matMul; the
 * transpose of each batch is materialized first (stock wasm's transposed matMul is slow).
 *
 * @example
 * const acc = new CovarianceAccumulator(256);
 * for (const x of batches) acc.add(x);      // x: [n_b, 256]
 * const sigma = acc.sigma();                // [256, 256], caller disposes
 * acc.dispose();
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError, describeValue } from '../core/errors.ts';
import { checkInteger } from '../core/validate.ts';

export class CovarianceAccumulator {
  /** Input width `in`. */
  readonly width: number;
  private total: tf.Tensor2D | null = null;
  private rows = 0;

  constructor(width: number) {
    this.width = checkInteger('width', width, 1);
  }

  /** Number of calibration rows added so far. */
  get count(): number {
    return this.rows;
  }

  /** Adds X_b^T X_b for a batch x [n_b, in]. The batch is not disposed. */
  add(x: tf.Tensor2D): void {
    if (!(x instanceof tf.Tensor) || x.rank !== 2) {
      throw new InputError(`Calibration batch must be a rank-2 tensor [n, ${this.width}]. Received: ${x instanceof tf.Tensor ? `shape [${x.shape.join(', ')}]` : describeValue(x)}.`);
    }
    if (x.shape[1] !== this.width) {
      throw new InputError(
        `Calibration batch has ${x.shape[1]} features but the layer takes ${this.width}: shape mismatch between calibration [n, ${x.shape[1]}] and layer input [n, ${this.width}].`,
      );
    }
    if (x.shape[0] === 0) return;
    // One [in] read-back: sum of squares per column is NaN/Inf exactly when a column has NaN/Inf
    // (or values too large for float32 squares).
    const sq = tf.tidy(() => tf.sum(tf.square(tf.cast(x, 'float32')), 0));
    const sums = sq.dataSync();
    sq.dispose();
    for (let c = 0; c < sums.length; c++) {
      if (!Number.isFinite(sums[c])) {
        throw new InputError(
          `Calibration activations contain NaN or Inf (or values whose squares overflow float32) in feature ${c}.`,
        );
      }
    }
    const next = tf.tidy(() => {
      const xf = tf.cast(x, 'float32') as tf.Tensor2D;
      const gram = tf.matMul(tf.transpose(xf), xf); // [in, n] x [n, in] = [in, in]
      return this.total ? tf.add(this.total, gram) : gram;
    }) as tf.Tensor2D;
    this.total?.dispose();
    this.total = next;
    this.rows += x.shape[0];
  }

  /** S = X^T X [in, in], a new tensor owned by the caller. Throws on an empty calibration set. */
  sigma(): tf.Tensor2D {
    if (!this.total || this.rows === 0) {
      throw new InputError('Empty calibration set: add at least one row of activations before asking for sigma.');
    }
    return tf.clone(this.total);
  }

  /** Frees the running sum. */
  dispose(): void {
    this.total?.dispose();
    this.total = null;
    this.rows = 0;
  }
}
