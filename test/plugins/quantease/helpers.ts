/**
 * Test helpers for the layer quantizers: a seeded PRNG, small LLM-like layer problems built in
 * float64 JS (independent of the library), float64 references and a leak check.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ExecutionContext } from 'ava';
import type { Grid, QuantizeLayerOptions, QuantizedLayer } from '../../../plugins/quantease/types.ts';
import { quantizeLayer } from '../../../plugins/quantease/quantize_layer.ts';

/** Mulberry32: deterministic uniform [0, 1). */
export { mulberry32 as rng } from '../../../plugins/core/random.ts';
import { mulberry32 as rng } from '../../../plugins/core/random.ts';

/** Standard normal by Box-Muller. */
export function gaussian(next: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

export interface TestProblem {
  rows: number;
  cols: number;
  /** W [rows, cols] float32 values. */
  w: Float32Array;
  /** S [cols, cols] float32 values (exactly symmetric). */
  s: Float32Array;
  /** X [n, cols] float64, for streaming tests. */
  x: Float64Array;
  n: number;
}

/**
 * Correlated features with a power-law spectrum (mixing rows scaled k^-alpha) and a few outlier
 * channels 10-100x larger; heavy-tailed W (Gaussian times log-normal).
 */
export function correlatedProblem(rows: number, cols: number, n: number, seed: number, outlierChannels = 2): TestProblem {
  const u = rng(seed);
  const g = gaussian(u);
  const mix = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) {
    const scale = (i + 1) ** -0.75 / Math.sqrt(cols);
    for (let j = 0; j < cols; j++) mix[i * cols + j] = g() * scale;
  }
  const colScale = new Float64Array(cols).fill(1);
  for (let k = 0; k < outlierChannels; k++) colScale[Math.floor(u() * cols)] = 10 + 90 * u();
  const x = new Float64Array(n * cols);
  const z = new Float64Array(cols);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < cols; i++) z[i] = g();
    for (let j = 0; j < cols; j++) {
      let acc = 0;
      for (let i = 0; i < cols; i++) acc += z[i] * mix[i * cols + j];
      x[r * cols + j] = Math.fround(acc * colScale[j]);
    }
  }
  const s = new Float32Array(cols * cols);
  for (let i = 0; i < cols; i++) {
    for (let j = i; j < cols; j++) {
      let acc = 0;
      for (let r = 0; r < n; r++) acc += x[r * cols + i] * x[r * cols + j];
      s[i * cols + j] = s[j * cols + i] = acc;
    }
  }
  const w = new Float32Array(rows * cols);
  for (let i = 0; i < w.length; i++) w[i] = (g() * Math.exp(0.6 * g())) / Math.sqrt(cols);
  return { rows, cols, w, s, x, n };
}

/** The problem as tensors (caller disposes). */
export function tensors(p: { rows: number; cols: number; w: Float32Array; s: Float32Array }): { weight: tf.Tensor2D; sigma: tf.Tensor2D } {
  return { weight: tf.tensor2d(p.w, [p.rows, p.cols]), sigma: tf.tensor2d(p.s, [p.cols, p.cols]) };
}

/** tr(D S D^T) in float64. */
export function objective64(w: ArrayLike<number>, what: ArrayLike<number>, s: ArrayLike<number>, rows: number, cols: number): number {
  let f = 0;
  const d = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) d[c] = w[r * cols + c] - what[r * cols + c];
    for (let i = 0; i < cols; i++) {
      if (d[i] === 0) continue;
      let acc = 0;
      for (let j = 0; j < cols; j++) acc += s[i * cols + j] * d[j];
      f += d[i] * acc;
    }
  }
  return f;
}

/** Closed-form per-row asymmetric min/max RTN, written independently of grid.ts. */
export function rtnClosedForm(w: Float32Array, rows: number, cols: number, bits: number): Float32Array {
  const maxq = 2 ** bits - 1;
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) {
    const row = Array.from(w.subarray(r * cols, (r + 1) * cols));
    let lo = Math.min(0, ...row);
    let hi = Math.max(0, ...row);
    if (hi === lo) { lo = -1; hi = 1; }
    const scale = Math.fround((hi - lo) / maxq);
    const zero = Math.min(maxq, Math.max(0, Math.round(-lo / scale)));
    for (let c = 0; c < cols; c++) {
      const q = Math.min(maxq, Math.max(0, Math.round(row[c] / scale) + zero));
      out[r * cols + c] = Math.fround((q - zero) * scale);
    }
  }
  return out;
}

/** True when every entry of `values` (except `skip`) equals dequant(codes) on `grid` and codes are in range. */
export function onGrid(values: Float32Array, codes: Uint8Array, grid: Grid, cols: number, skip?: Set<number>): boolean {
  const maxq = 2 ** grid.bits - 1;
  for (let i = 0; i < values.length; i++) {
    const r = Math.floor(i / cols);
    const k = r * grid.groups + Math.floor((i % cols) / grid.groupSize);
    if (codes[i] > maxq) return false;
    if (skip?.has(i)) continue;
    if (values[i] !== Math.fround((codes[i] - grid.zero[k]) * grid.scale[k])) return false;
  }
  return true;
}

/** Runs `fn` and asserts no tensor leaked (tensors the result owns are disposed by `cleanup`). */
export async function noLeak<T>(t: ExecutionContext, fn: () => Promise<T> | T, cleanup: (r: T) => void = () => {}): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await fn();
  cleanup(result);
  t.is(tf.memory().numTensors, before, 'tensor leak');
  return result;
}

/**
 * quantizeLayer on a test problem with a leak check around it; returns the result with the
 * dequantized weight read back as `values` (the tensor is disposed).
 */
export async function quantizeChecked(t: ExecutionContext, p: { rows: number; cols: number; w: Float32Array; s: Float32Array }, options: QuantizeLayerOptions | object): Promise<QuantizedLayer & { values: Float32Array }> {
  const input = tensors(p);
  const res = await noLeak(t, () => quantizeLayer(input, options as QuantizeLayerOptions), (r: QuantizedLayer) => {
    (r as QuantizedLayer & { values?: Float32Array }).values = r.weight.dataSync() as Float32Array;
    r.weight.dispose();
  });
  input.weight.dispose();
  input.sigma.dispose();
  return res as QuantizedLayer & { values: Float32Array };
}
