/**
 * `quantizeLayer(problem, options)`: the one entry point shared by every method.
 *
 * Validates every option (options.ts) and the problem once, reads W and S once (problem.ts), fits
 * the grid on W, runs the method from the registry (methods.ts), and returns the dequantized
 * weight, the codes, the grid, the outliers and statistics:
 *
 *   baseline        = tr(W S W^T)
 *   objectiveBefore = f(rounded start): RTN for 'rtn', 'gptq' and QuantEase from W; GPTQ's
 *                     result for QuantEase with init 'gptq'; round(W - H0) + H0 with outliers
 *   objectiveAfter  = f(result),  relativeError = objectiveAfter / baseline  (0 when baseline = 0)
 *
 * Synchronous core, asynchronous edge: `quantizeLayer` awaits the read-back of W and S (the one
 * large transfer, which a GPU backend can do without blocking), then runs `quantizeDense`, which
 * is synchronous on purpose: every method is a chain of small steps each of which needs the
 * previous one's numbers (a GPTQ block, a QuantEase column block), so awaiting each read-back
 * would overlap nothing and only add a microtask per block.
 *
 * @example
 * const { weight, stats } = await quantizeLayer({ weight: w, sigma: s }, { method: 'quantease', bits: 3 });
 * weight.dispose();
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerProblem, QuantizeLayerOptions, QuantizedLayer, QuantizeStats } from './types.ts';
import { readProblem, readProblemSync, type DenseProblem } from './problem.ts';
import { relativeError } from './objective.ts';
import { resolveQuantizeOptions, type ResolvedQuantizeOptions } from './options.ts';
import { fitLayerGrid, runQuantizer } from './methods.ts';

export { resolveQuantizeOptions, QUANTIZE_LAYER_OPTION_KEYS, type ResolvedQuantizeOptions } from './options.ts';

/** tr(W S W^T), f(start), f(result) with one matMul and one read-back. */
function objectives(p: DenseProblem, start: Float32Array, values: Float32Array): [number, number, number] {
  const { rows, cols, w } = p;
  const d = new Float32Array(3 * rows * cols); // [W; W - start; W - values], [3 rows, cols]
  d.set(w);
  for (let i = 0; i < w.length; i++) {
    d[w.length + i] = w[i] - start[i];
    d[2 * w.length + i] = w[i] - values[i];
  }
  const sums = tf.tidy(() => {
    const dt = tf.tensor3d(d, [3, rows, cols]);
    const ds = tf.reshape(tf.matMul(tf.reshape(dt, [3 * rows, cols]), p.sigma), [3, rows, cols]);
    return tf.sum(tf.mul(ds, dt), [1, 2]);
  });
  const v = sums.dataSync();
  sums.dispose();
  // S is positive semi-definite: a negative sum is float32 round-off of a near-zero D.
  return [Math.max(0, v[0]), Math.max(0, v[1]), Math.max(0, v[2])];
}

/** The synchronous core: quantizes a problem already read, with resolved options. */
export function quantizeDense(p: DenseProblem, o: ResolvedQuantizeOptions): QuantizedLayer {
  const t0 = performance.now();
  const grid = fitLayerGrid(p, o);
  const r = runQuantizer(p, grid, o);
  const [baseline, objectiveBefore, objectiveAfter] = objectives(p, r.start, r.values);
  const stats: QuantizeStats = {
    method: o.method,
    bits: o.bits,
    baseline,
    objectiveBefore,
    objectiveAfter,
    relativeError: relativeError(objectiveAfter, baseline),
    iterations: r.iterations,
    milliseconds: performance.now() - t0,
  };
  if (r.history) stats.history = r.history;
  if (r.fallback) stats.fallback = r.fallback;
  if (r.dampeningUsed !== undefined && Number.isFinite(r.dampeningUsed)) stats.dampeningUsed = r.dampeningUsed;
  const result: QuantizedLayer = { weight: tf.tensor2d(r.values, [p.rows, p.cols]), codes: r.codes, grid: r.grid, stats };
  if (r.outliers) result.outliers = r.outliers;
  return result;
}

/**
 * Quantizes one layer: W [out, in] against S = X^T X [in, in]. Inputs are not disposed; the
 * returned `weight` is owned by the caller. Option errors come first, before any tensor is read.
 */
export async function quantizeLayer(problem: LayerProblem, options: QuantizeLayerOptions = {}): Promise<QuantizedLayer> {
  const o = resolveQuantizeOptions(options);
  const t0 = performance.now();
  const result = quantizeDense(await readProblem(problem), o);
  result.stats.milliseconds = performance.now() - t0;
  return result;
}

/** quantizeLayer without the asynchronous read-back (dataSync), for callers that cannot await. */
export function quantizeLayerSync(problem: LayerProblem, options: QuantizeLayerOptions = {}): QuantizedLayer {
  const o = resolveQuantizeOptions(options);
  const t0 = performance.now();
  const result = quantizeDense(readProblemSync(problem), o);
  result.stats.milliseconds = performance.now() - t0;
  return result;
}
