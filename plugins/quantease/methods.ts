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
import { dequantizeAll, fitGrid, quantizeAll } from './grid.ts';
import { fitGridWeighted } from './grid_search.ts';
import { gptq, gptqFactor, type GptqResult } from './gptq.ts';
import { quantEase } from './quantease.ts';
import { outlierQuantEase } from './outliers.ts';
import { refitScales, weightTimesSigma } from './refit.ts';
import { layerObjective, rowObjectives } from './objective.ts';

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

/** The grid of the options on W (entries with exclude[i] = 1 left out): min/max, or the clipping search. */
export function fitLayerGrid(problem: DenseProblem, o: ResolvedQuantizeOptions, exclude?: Uint8Array): Grid {
  const spec = { bits: o.bits, groupSize: o.groupSize, symmetric: o.symmetric };
  return o.clip
    ? fitGridWeighted(problem.w, problem.rows, problem.cols, spec, problem.diag, o.clip, exclude)
    : fitGrid(problem.w, problem.rows, problem.cols, spec, exclude);
}

/** Per row, the better of two quantizations of W (codes, values and that row's grid). */
function betterRows(problem: DenseProblem, gridA: Grid, a: GptqResult, gridB: Grid, b: GptqResult): { grid: Grid; result: GptqResult } {
  const { rows, cols } = problem;
  const fa = rowObjectives(problem.w, a.values, rows, cols, problem.sigma);
  const fb = rowObjectives(problem.w, b.values, rows, cols, problem.sigma);
  const G = gridA.groups;
  const grid: Grid = { ...gridA, scale: Float32Array.from(gridA.scale), zero: Float32Array.from(gridA.zero) };
  const codes = Uint8Array.from(a.codes);
  const values = Float32Array.from(a.values);
  for (let r = 0; r < rows; r++) {
    if (!(fb[r] < fa[r])) continue;
    codes.set(b.codes.subarray(r * cols, (r + 1) * cols), r * cols);
    values.set(b.values.subarray(r * cols, (r + 1) * cols), r * cols);
    grid.scale.set(gridB.scale.subarray(r * G, (r + 1) * G), r * G);
    grid.zero.set(gridB.zero.subarray(r * G, (r + 1) * G), r * G);
  }
  return { grid, result: { ...a, codes, values } };
}

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

/**
 * The GPTQ start of QuantEase. With the clipping search on, GPTQ also runs on the min/max grid
 * (one shared Cholesky factor) and each row keeps the better of the two: the search scores rows
 * with diag(S) only and misjudges rows with strongly correlated inputs (e.g. a classifier head
 * after pooling); rows are independent terms of f, so the start is never worse than act-order
 * GPTQ on the min/max grid.
 */
function gptqStart(problem: DenseProblem, grid: Grid, o: ResolvedQuantEase): { grid: Grid; result: GptqResult } {
  const run = { ...o, onProgress: progress(o, 'gptq') };
  const factor = gptqFactor(problem, run);
  const result = gptq(problem, grid, run, problem.w, factor);
  if (!o.clip) return { grid, result };
  const plainGrid = fitLayerGrid(problem, { ...o, clip: false });
  return betterRows(problem, grid, result, plainGrid, gptq(problem, plainGrid, { ...run, onProgress: undefined }, problem.w, factor));
}

/** QuantEase from W or from GPTQ's solution, or the outlier-aware variant. */
export const quantEaseMethod: Quantizer<ResolvedQuantEase> = (problem, fitted, o) => {
  const run = { ...o, onProgress: undefined };
  if (o.outliers) {
    const fit = (exclude: Uint8Array) => fitLayerGrid(problem, o, exclude);
    const r = outlierQuantEase(problem, fit, o.outliers, { ...run, onProgress: progress(o, 'quantease-outliers') });
    return { grid: r.grid, codes: r.codes, values: r.values, start: r.start, outliers: r.outliers, history: r.history, iterations: o.sweeps };
  }
  const init = o.init === 'gptq' ? gptqStart(problem, fitted, o) : undefined;
  const grid = init?.grid ?? fitted;
  const from = init?.result.values;
  const start = from ?? quantizeAll(problem.w, grid, problem.cols).values;
  const { fallback, dampeningUsed } = init?.result ?? {};

  const q = quantEase(problem, grid, { ...run, onProgress: progress(o, 'quantease') }, from);
  let { codes, values } = q;
  const history = q.history;
  let iterations = q.sweeps;
  let g = grid;
  if (o.refit > 0) {
    // Each round: scales refitted to the codes (f falls), then rounded sweeps (f does not rise).
    const ws = weightTimesSigma(problem);
    const report = progress(o, 'refit');
    for (let round = 0; round < o.refit; round++) {
      const refit = refitScales(problem, g, codes, ws);
      if (refit.rowsChanged === 0) {
        report(o.refit, o.refit); // converged: the remaining rounds would change nothing
        break;
      }
      report(round + 1, o.refit);
      g = refit.grid;
      const next = quantEase(problem, g, { ...run, sweeps: o.refitSweeps, unroundedSweepEvery: 0 }, dequantizeAll(codes, g, problem.cols));
      ({ codes, values } = next);
      history.push(...next.history);
      iterations += next.sweeps;
    }
  }
  if (init && history.length > 0) {
    // Never worse than the GPTQ start: the unrounded sweeps may leave a rounded point above it.
    const f0 = layerObjective(problem.w, init.result.values, problem.rows, problem.cols, problem.sigma);
    if (f0 < history[history.length - 1]) {
      const note = 'QuantEase: the sweeps ended above the GPTQ start; returned the GPTQ solution.';
      return { grid, codes: init.result.codes, values: init.result.values, start, history, iterations, fallback: fallback ?? note, dampeningUsed };
    }
  }
  return { grid: g, codes, values, start, history, iterations, fallback, dampeningUsed };
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
