/**
 * The layer problem of an Embedding layer.
 *
 * The lookup y = E[id] is the Dense layer y = one_hot(id) E with E [vocab, dim], so over the
 * calibration tokens its error is
 *
 *   sum over occurrences ||one_hot(id) (E - Ehat)||^2 = sum_t c_t ||E_t - Ehat_t||^2,
 *
 * c_t the count of token t: the input covariance one_hot^T one_hot = diag(c) is diagonal, and the
 * objective separates into one term per row E_t of the table. The choice made here:
 *
 *   - W = E (layout 'table'): each token's row on its own grid (groupSize splits it along the
 *     embedding dimension), since a row is only ever read whole;
 *   - S = I [dim, dim] for every row: a row's term c_t ||E_t - Ehat_t||^2 has the same minimizer
 *     on the row's grid whatever c_t > 0, and that minimizer is rounding; so RTN, GPTQ and
 *     QuantEase all give the same codes (outliers, when asked, go to the largest residuals);
 *   - the calibration counts weigh the *reported* error: sum_t w_t ||E_t - Ehat_t||^2 /
 *     sum_t w_t ||E_t||^2 with w_t = c_t + 1, so tokens the calibration never saw still count
 *     with a uniform weight of 1 (a short calibration text must not make the table's tail free).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { KernelPart, PartAccumulator } from './layer_problems.ts';

/** Calibration token counts of one Embedding layer, and its identity S. */
class TokenCounts implements PartAccumulator {
  private readonly counts: Float64Array;
  private seen = 0;
  constructor(private readonly vocab: number, private readonly dim: number) {
    this.counts = new Float64Array(vocab);
  }

  get count(): number {
    return this.seen;
  }

  add(x: tf.Tensor): void {
    const ids = x.dataSync(); // token ids (one read-back per batch)
    for (let i = 0; i < ids.length; i++) {
      const id = Math.trunc(ids[i]);
      if (id >= 0 && id < this.vocab) this.counts[id]++;
    }
    this.seen += ids.length;
  }

  sigma(): tf.Tensor2D {
    return tf.eye(this.dim) as tf.Tensor2D; // [dim, dim]
  }

  rowWeights(): Float64Array {
    return this.counts.map((c) => c + 1);
  }

  dispose(): void {}
}

export function embeddingPart(layer: tfl.layers.Layer): KernelPart {
  const variable = layer.weights.find((v) => /(^|\/)embeddings$/.test(v.originalName)) ?? layer.weights[0];
  const [vocab, dim] = variable.shape as number[];
  return { variable, layout: 'table', blocks: 1, width: dim, accumulator: () => new TokenCounts(vocab, dim) };
}
