/**
 * The registry of layer quantizers. Every method has one interface,
 *
 *   (problem, grid, options) => MethodResult
 *
 * `problem` is the layer read once (W, S, diag S: problem.ts), `grid` the grid fitted on W, and
 * `options` the method's own resolved settings (options.ts). A method may return a different grid
 * than it received (the outlier variant refits it without its outliers).
 */
import type { Grid, Outliers, QuantMethod } from './types.ts';
import type { DenseProblem } from './problem.ts';
import type { ResolvedGptq, ResolvedQuantEase, ResolvedQuantizeOptions, ResolvedRtn } from './options.ts';
import { quantizeAll } from './grid.ts';
import { gptq } from './gptq.ts';
import { quantEase } from './quantease.ts';
import { outlierQuantEase } from './outliers.ts';

export interface MethodResult {
  grid: Grid;
  /** [rows, cols] codes (the code of 0 at outliers). */
  codes: Uint8Array;
  /** The final weight [rows, cols]: on the grid, plus the outliers in full precision. */
  values: Float32Array;
  /** The rounded starting point [rows, cols], for stats.objectiveBefore. */
  start: Float32Array;
  outliers?: Outliers;
  iterations: number;
  history?: number[];
  fallback?: string;
  dampeningUsed?: number;
}

export type Quantizer<O extends ResolvedQuantizeOptions> = (problem: DenseProblem, grid: Grid, options: O) => MethodResult;

const progress = (o: ResolvedQuantizeOptions, stage: string) => (done: number, total: number) => o.onProgress?.({ done, total, stage });

/** Round to nearest. */
export const rtnMethod: Quantizer<ResolvedRtn> = (problem, grid, o) => {
  const { codes, values } = quantizeAll(problem.w, grid, problem.cols);
  progress(o, 'rtn')(1, 1);
  return { grid, codes, values, start: values, iterations: 1 };
};

/** GPTQ; the start reported is RTN. */
export const gptqMethod: Quantizer<ResolvedGptq> = (problem, grid, o) => {
  const g = gptq(problem, grid, { ...o, onProgress: progress(o, 'gptq') });
  const start = quantizeAll(problem.w, grid, problem.cols).values;
  return { grid, codes: g.codes, values: g.values, start, iterations: 1, fallback: g.fallback, dampeningUsed: g.dampeningUsed };
};

/** QuantEase from W or from GPTQ's solution, or the outlier-aware variant. */
export const quantEaseMethod: Quantizer<ResolvedQuantEase> = (problem, grid, o) => {
  const run = { ...o, onProgress: undefined };
  if (o.outliers) {
    const spec = { bits: grid.bits, groupSize: grid.groupSize, symmetric: o.symmetric };
    const r = outlierQuantEase(problem, spec, o.outliers, { ...run, onProgress: progress(o, 'quantease-outliers') });
    return { grid: r.grid, codes: r.codes, values: r.values, start: r.start, outliers: r.outliers, history: r.history, iterations: o.sweeps };
  }
  let start = quantizeAll(problem.w, grid, problem.cols).values;
  let from: Float32Array | undefined;
  let fallback: string | undefined;
  let dampeningUsed: number | undefined;
  if (o.init === 'gptq') {
    const g = gptq(problem, grid, { ...o, onProgress: progress(o, 'gptq') });
    start = from = g.values;
    fallback = g.fallback;
    dampeningUsed = g.dampeningUsed;
  }
  const q = quantEase(problem, grid, { ...run, onProgress: progress(o, 'quantease') }, from);
  return { grid, codes: q.codes, values: q.values, start, history: q.history, iterations: o.sweeps, fallback, dampeningUsed };
};

/** Method name -> quantizer. */
export const QUANTIZERS: { [M in QuantMethod]: Quantizer<Extract<ResolvedQuantizeOptions, { method: M }>> } = {
  rtn: rtnMethod,
  gptq: gptqMethod,
  quantease: quantEaseMethod,
};

/** Runs the quantizer registered for `options.method`. */
export function runQuantizer(problem: DenseProblem, grid: Grid, options: ResolvedQuantizeOptions): MethodResult {
  return (QUANTIZERS[options.method] as Quantizer<ResolvedQuantizeOptions>)(problem, grid, options);
}
