/**
 * `quantizeLayer(problem, options)`: the one entry point shared by every method.
 *
 * Validates the problem and every option once, fits the grid once on W (without outliers for
 * the outlier-aware variant), dispatches on `method`, and returns the dequantized weight, the
 * codes, the grid, the outliers and statistics:
 *
 *   baseline        = tr(W S W^T)
 *   objectiveBefore = f(rounded start): RTN for 'rtn', 'gptq' and QuantEase from W; GPTQ's
 *                     result for QuantEase with init 'gptq'; round(W - H0) + H0 with outliers
 *   objectiveAfter  = f(result),  relativeError = objectiveAfter / baseline  (0 when baseline = 0)
 *
 * @example
 * const { weight, stats } = await quantizeLayer({ weight: w, sigma: s }, { method: 'quantease', bits: 3 });
 * weight.dispose();
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../core/errors.ts';
import { checkBoolean, checkFiniteNumber, checkInteger, checkOneOf, optionFail, rejectUnknownKeys } from '../core/validate.ts';
import type { Grid, LayerProblem, Outliers, QuantizeLayerOptions, QuantizedLayer, QuantizeStats, QuantMethod } from './types.ts';
import { fitGrid, type GridSpec } from './grid.ts';
import { readProblem } from './problem.ts';
import { layerObjective, quadraticForm, relativeError } from './objective.ts';
import { rtn } from './rtn.ts';
import { gptq } from './gptq.ts';
import { quantEase } from './quantease.ts';
import { outlierQuantEase } from './outliers.ts';

export const QUANTIZE_LAYER_OPTION_KEYS = [
  'method', 'bits', 'groupSize', 'symmetric', 'outliers', 'dampening', 'blockSize', 'actOrder',
  'sweeps', 'unroundedSweepEvery', 'unroundedUntil', 'init', 'onProgress',
] as const;

/** Every option with its default filled in. */
export interface ResolvedQuantizeOptions {
  method: QuantMethod;
  bits: number;
  /** 0 (or >= in) = whole row. */
  groupSize: number;
  symmetric: boolean;
  outliers: { fraction: number; structured: boolean } | false;
  dampening: number;
  blockSize: number;
  actOrder: boolean;
  sweeps: number;
  unroundedSweepEvery: number;
  unroundedUntil: number;
  init: 'weights' | 'gptq';
  onProgress?: QuantizeLayerOptions['onProgress'];
}

/**
 * Checks every option and fills in the defaults. Throws OptionError with the option's name,
 * the value received and what is allowed. Needs no layer: call it once up front.
 */
export function resolveQuantizeOptions(options: QuantizeLayerOptions = {}): ResolvedQuantizeOptions {
  rejectUnknownKeys(options, QUANTIZE_LAYER_OPTION_KEYS, 'quantizeLayer');
  const o = options as Record<string, unknown>;
  const has = (key: string) => o[key] !== undefined;
  const method = has('method') ? checkOneOf('method', o.method, ['rtn', 'gptq', 'quantease'] as const) : 'quantease';
  const bits = has('bits') ? checkInteger('bits', o.bits, 2, 8) : 4;
  // 0 or >= in: one group per row (so one setting can serve layers of different widths); a last
  // partial group is allowed when groupSize does not divide in.
  const groupSize = has('groupSize') ? checkInteger('groupSize', o.groupSize, 0) : 0;
  const symmetric = has('symmetric') ? checkBoolean('symmetric', o.symmetric) : false;
  let outliers: ResolvedQuantizeOptions['outliers'] = false;
  if (has('outliers') && o.outliers !== false) {
    if (o.outliers === null || typeof o.outliers !== 'object' || Array.isArray(o.outliers)) {
      optionFail('outliers', o.outliers, 'false or an object {fraction, structured}');
    }
    rejectUnknownKeys(o.outliers as object, ['fraction', 'structured'], 'quantizeLayer `outliers`');
    const oo = o.outliers as Record<string, unknown>;
    outliers = {
      fraction: oo.fraction !== undefined ? checkFiniteNumber('outliers.fraction', oo.fraction, 0, 1) : 0.01,
      structured: oo.structured !== undefined ? checkBoolean('outliers.structured', oo.structured) : false,
    };
    if (method !== 'quantease') {
      throw new OptionError(`\`outliers\` needs method 'quantease'. Received: method=${JSON.stringify(method)} with outliers. Use method: 'quantease' or drop outliers.`);
    }
  }
  const dampening = has('dampening') ? checkFiniteNumber('dampening', o.dampening, 0) : 0.01;
  const blockSize = has('blockSize') ? checkInteger('blockSize', o.blockSize, 1) : 128;
  const actOrder = has('actOrder') ? checkBoolean('actOrder', o.actOrder) : false;
  const sweeps = has('sweeps') ? checkInteger('sweeps', o.sweeps, 1, 100000) : 30;
  const init = has('init') ? checkOneOf('init', o.init, ['weights', 'gptq'] as const) : 'weights';
  if (init === 'gptq' && outliers) {
    throw new OptionError("`init: 'gptq'` cannot be combined with `outliers` (the outlier variant starts from W minus its outliers).");
  }
  const unroundedSweepEvery = has('unroundedSweepEvery') ? checkInteger('unroundedSweepEvery', o.unroundedSweepEvery, 0) : 3;
  const unroundedUntil = has('unroundedUntil') ? checkInteger('unroundedUntil', o.unroundedUntil, 0) : 25;
  if (has('onProgress') && typeof o.onProgress !== 'function') optionFail('onProgress', o.onProgress, 'a function');
  return {
    method, bits, groupSize, symmetric, outliers, dampening, blockSize, actOrder, sweeps,
    unroundedSweepEvery, unroundedUntil, init, onProgress: options.onProgress,
  };
}

/**
 * Quantizes one layer: W [out, in] against S = X^T X [in, in]. Inputs are not disposed; the
 * returned `weight` is owned by the caller. Async so that callers can await a GPU backend.
 */
export async function quantizeLayer(problem: LayerProblem, options: QuantizeLayerOptions = {}): Promise<QuantizedLayer> {
  const o = resolveQuantizeOptions(options); // option errors first, before reading any tensor
  const t0 = performance.now();
  const p = readProblem(problem);
  const { rows, cols, w, s, sigma } = p;
  const spec: GridSpec = { bits: o.bits, groupSize: o.groupSize, symmetric: o.symmetric };
  const report = (stage: string) => (done: number, total: number) => o.onProgress?.({ done, total, stage });

  let grid: Grid;
  let codes: Uint8Array;
  let values: Float32Array;
  let start: Float32Array;
  let outliers: Outliers | undefined;
  let history: number[] | undefined;
  let iterations = 1;
  let fallback: string | undefined;
  let dampeningUsed: number | undefined;

  if (o.outliers) {
    const res = outlierQuantEase(w, s, sigma, rows, cols, spec, o.outliers, {
      sweeps: o.sweeps, unroundedSweepEvery: o.unroundedSweepEvery, unroundedUntil: o.unroundedUntil,
      blockSize: o.blockSize, onProgress: report('quantease-outliers'),
    });
    ({ grid, codes, values, outliers, history, start } = res);
    iterations = o.sweeps;
  } else {
    grid = fitGrid(w, rows, cols, spec);
    const rounded = rtn(w, grid, cols);
    start = rounded.values;
    if (o.method === 'rtn') {
      ({ codes, values } = rounded);
      report('rtn')(1, 1);
    } else {
      const needGptq = o.method === 'gptq' || o.init === 'gptq';
      let gptqValues: Float32Array | undefined;
      if (needGptq) {
        const g = gptq(w, s, rows, cols, grid, {
          dampening: o.dampening, blockSize: o.blockSize, actOrder: o.actOrder, onProgress: report('gptq'),
        });
        ({ codes, values } = g);
        gptqValues = g.values;
        fallback = g.fallback;
        dampeningUsed = g.dampeningUsed;
      }
      if (o.method === 'quantease') {
        if (gptqValues) start = gptqValues;
        const q = quantEase(w, s, sigma, rows, cols, grid, {
          sweeps: o.sweeps, unroundedSweepEvery: o.unroundedSweepEvery, unroundedUntil: o.unroundedUntil,
          blockSize: o.blockSize, onProgress: report('quantease'),
        }, gptqValues);
        ({ codes, values, history } = q);
        iterations = o.sweeps;
      }
    }
  }

  const baseline = quadraticForm(w, rows, cols, sigma);
  const objectiveBefore = layerObjective(w, start, rows, cols, sigma);
  const objectiveAfter = layerObjective(w, values!, rows, cols, sigma);
  const stats: QuantizeStats = {
    method: o.method,
    bits: o.bits,
    baseline,
    objectiveBefore,
    objectiveAfter,
    relativeError: relativeError(objectiveAfter, baseline),
    iterations,
    milliseconds: performance.now() - t0,
  };
  if (history) stats.history = history;
  if (fallback) stats.fallback = fallback;
  if (dampeningUsed !== undefined && Number.isFinite(dampeningUsed)) stats.dampeningUsed = dampeningUsed;
  const result: QuantizedLayer = { weight: tf.tensor2d(values!, [rows, cols]), codes: codes!, grid, stats };
  if (outliers) result.outliers = outliers;
  return result;
}
