/**
 * Size-weighted mean of micro-batch gradients (mSAM, Behdin et al. 2022):
 *
 *     g = sum_s n_s * g_s / sum_s n_s        (a mean, never a sum: a sum would scale the learning rate)
 *
 * With a single micro-batch the gradient is returned untouched (bit-exact with plain SAM).
 */
import * as tf from '@tensorflow/tfjs-core';

export class GradientAccumulator {
  private sum: Map<string, tf.Tensor> | null = null;
  private single: tf.NamedTensorMap | null = null;
  private singleWeight = 0;
  private total = 0;
  private count = 0;
  /** Variable list of the first add(), reused for the base update. */
  varList: tf.Variable[] | undefined;

  /**
   * Adds `weight * grads` (takes ownership of the gradient tensors). What it holds is kept
   * (tf.keep): each add may run inside its own engine scope (the fit integration scopes every
   * micro-batch), and the sums must outlive it; take() and clear() dispose them.
   */
  add(grads: tf.NamedTensorMap, weight: number, varList?: tf.Variable[]): void {
    if (this.count === 0) this.varList = varList;
    this.count += 1;
    this.total += weight;
    if (this.count === 1) {
      for (const g of Object.values(grads)) if (g != null) tf.keep(g);
      this.single = grads;
      this.singleWeight = weight;
      return;
    }
    if (this.sum === null) {
      this.sum = this.scaled(this.single!, this.singleWeight);
      disposeMap(this.single!);
      this.single = null;
    }
    const sum = this.sum;
    tf.tidy(() => {
      for (const [name, g] of Object.entries(grads)) {
        if (g == null) continue;
        const prev = sum.get(name);
        const next = prev ? tf.add(prev, tf.mul(g, weight)) : tf.mul(g, weight);
        tf.keep(next);
        prev?.dispose();
        sum.set(name, next);
      }
    });
    disposeMap(grads);
  }

  /** Number of add() calls so far. */
  get size(): number {
    return this.count;
  }

  /** The weighted mean; the caller owns the result. The accumulator is empty afterwards. */
  take(): tf.NamedTensorMap {
    if (this.count === 0) return {};
    let out: tf.NamedTensorMap;
    if (this.single !== null) {
      out = this.single;
    } else {
      const total = this.total;
      out = {};
      for (const [name, s] of this.sum!) {
        out[name] = tf.div(s, total);
        s.dispose();
      }
    }
    this.reset();
    return out;
  }

  /** Disposes whatever was accumulated. */
  clear(): void {
    if (this.single) disposeMap(this.single);
    if (this.sum) for (const s of this.sum.values()) s.dispose();
    this.reset();
  }

  private scaled(grads: tf.NamedTensorMap, weight: number): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [name, g] of Object.entries(grads)) if (g != null) out.set(name, tf.keep(tf.mul(g, weight)));
    return out;
  }

  private reset(): void {
    this.sum = null;
    this.single = null;
    this.singleWeight = 0;
    this.total = 0;
    this.count = 0;
    this.varList = undefined;
  }
}

/** Disposes the non-null tensors of a gradient map. */
export function disposeMap(grads: tf.NamedTensorMap): void {
  for (const g of Object.values(grads)) if (g != null) g.dispose();
}
