/**
 * Test helpers for SAM: the list of base optimizers, leak checks, float64 references.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// Importing tfjs-layers registers every kernel gradient (apps get them from tfjs-layers or @tensorflow/tfjs).
import '@tensorflow/tfjs-layers';
import type { ExecutionContext } from 'ava';

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** Every base optimizer SAM is tested over (one list, as optax's _common_test.py). */
export const BASES: ReadonlyArray<{ name: string; make: () => tf.Optimizer }> = [
  { name: 'sgd', make: () => tf.train.sgd(0.1) },
  { name: 'momentum', make: () => tf.train.momentum(0.05, 0.9) },
  { name: 'adam', make: () => tf.train.adam(0.1) },
  { name: 'adamax', make: () => tf.train.adamax(0.1) },
  { name: 'adagrad', make: () => tf.train.adagrad(0.5) },
  { name: 'adadelta', make: () => tf.train.adadelta(0.1) }, // tfjs's adadelta diverges at lr 1 even alone
  { name: 'rmsprop', make: () => tf.train.rmsprop(0.05) },
];

/** Runs fn and asserts that tf.memory().numTensors is unchanged (fn must dispose what it returns). */
export function noLeak<T>(t: ExecutionContext, label: string, fn: () => T): T {
  const before = tf.memory().numTensors;
  const out = fn();
  t.is(tf.memory().numTensors, before, `${label} leaked tensors`);
  return out;
}

export async function noLeakAsync<T>(t: ExecutionContext, label: string, fn: () => Promise<T>): Promise<T> {
  const before = tf.memory().numTensors;
  const out = await fn();
  t.is(tf.memory().numTensors, before, `${label} leaked tensors`);
  return out;
}

/** Asserts |a_i - b_i| <= atol + rtol * |b_i| for every element. */
export function close(t: ExecutionContext, actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-6, rtol = 1e-5, label = ''): void {
  t.is(actual.length, expected.length, `${label} length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) - rtol * Math.abs(expected[i]);
    if (err > worst) {
      worst = err;
      at = i;
    }
  }
  t.true(worst <= atol, `${label} element ${at}: ${actual[at]} vs ${expected[at]}`);
}

/** Seeded JS PRNG (mulberry32) for float64 references and test data. */
export { mulberry32 as rng } from '../../../plugins/core/random.ts';
import { mulberry32 as rng } from '../../../plugins/core/random.ts';

/** n uniform values in [-1, 1), rounded to float32 so float32 and float64 paths start equal. */
export function randomArray(n: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.fround(2 * r() - 1));
}

// ---- float64 references ---------------------------------------------------------------------

/** Linear regression y ~ X w + b with loss mean((Xw + b - y)^2): value and gradient (float64). */
export function linRegGrad(X: number[][], y: number[], w: number[], b: number): { loss: number; gw: number[]; gb: number } {
  const n = X.length;
  const gw = new Array(w.length).fill(0);
  let gb = 0;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    let r = b - y[i];
    for (let j = 0; j < w.length; j++) r += X[i][j] * w[j];
    loss += (r * r) / n;
    for (let j = 0; j < w.length; j++) gw[j] += (2 / n) * r * X[i][j];
    gb += (2 / n) * r;
  }
  return { loss, gw, gb };
}

/** One SAM gradient (float64) for linear regression; `adaptive` scales w (rank-2 kernel) by |w| + eta. */
export function linRegSamGrad(X: number[][], y: number[], w: number[], b: number, rho: number, adaptive = false, eta = 0.01, epsilon = 1e-12): { loss: number; gw: number[]; gb: number } {
  const g = linRegGrad(X, y, w, b);
  const tw = w.map((wi) => (adaptive ? Math.abs(wi) + eta : 1));
  const tg = g.gw.map((gi, j) => gi * tw[j]);
  const norm = Math.sqrt(tg.reduce((a, v) => a + v * v, 0) + g.gb * g.gb);
  const scale = norm > 0 ? rho / (norm + epsilon) : 0;
  const we = w.map((wi, j) => wi + scale * tw[j] * tg[j]);
  const be = b + scale * g.gb;
  const g2 = linRegGrad(X, y, we, be);
  return { loss: g.loss, gw: g2.gw, gb: g2.gb };
}

/**
 * One float64 mSAM + SGD step of linear regression on rows X, y: slices of the given sizes (in
 * order), g = sum_s n_s g_sam(slice s) / n, w -= lr g. Returns the new weights and the
 * size-weighted mean loss at w (what the step reports).
 */
export function linRegMsamStep(X: number[][], y: number[], w: number[], b: number, sizes: readonly number[], rho: number, lr: number): { w: number[]; b: number; loss: number } {
  const n = X.length;
  const gw = new Array<number>(w.length).fill(0);
  let gb = 0;
  let loss = 0;
  let from = 0;
  for (const m of sizes) {
    const g = linRegSamGrad(X.slice(from, from + m), y.slice(from, from + m), w, b, rho);
    g.gw.forEach((v, j) => (gw[j] += (m / n) * v));
    gb += (m / n) * g.gb;
    loss += (m / n) * g.loss;
    from += m;
  }
  return { w: w.map((v, j) => v - lr * gw[j]), b: b - lr * gb, loss };
}
