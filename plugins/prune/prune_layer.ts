/**
 * `pruneLayer(problem, options)`: one layer problem {weight W [out, in], sigma S [in, in]} in,
 * the pruned weight, its mask and statistics out, for every method and pattern:
 *
 *   magnitude, wanda   keep the highest scores (scores.ts); no weight update
 *   sparsegpt          OBS-style column sweep with adaptive masks (sparsegpt.ts)
 *   l0                 coordinate descent + swap local search from a start method (l0.ts)
 *
 * and a certified lower bound on the best objective the pattern allows (lower_bound.ts), so
 * `stats.gap` says how far from optimal the result can be at most.
 *
 * @example
 * const { weight, mask, stats } = pruneLayer({ weight: w, sigma: s }, { method: 'l0', pattern: { kind: 'nm', n: 2, m: 4 } });
 * console.log(stats.relativeError, stats.gap);
 * weight.dispose();
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../core/errors.ts';
import { checkFiniteNumber, checkInteger, checkOneOf, optionFail, rejectUnknownKeys } from '../core/validate.ts';
import { readProblem } from '../quantease/problem.ts';
import type { LayerProblem } from '../quantease/types.ts';
import { l0Prune } from './l0.ts';
import { diagonalBound, relaxationBound } from './lower_bound.ts';
import { keptPerRow, maskFollows, selectMask } from './pattern.ts';
import { applyMask, magnitudeScores, wandaScores } from './scores.ts';
import { sparseGpt } from './sparsegpt.ts';
import type { LowerBoundMethod, PruneLayerOptions, PruneMethod, PrunedLayer, PruneStats, SparsityPattern } from './types.ts';

export const PRUNE_LAYER_OPTION_KEYS = [
  'method', 'pattern', 'dampening', 'blockSize', 'init', 'rounds', 'swapBudget', 'swapSearch', 'exactSwapFlops', 'tolerance',
  'lowerBound', 'boundIterations', 'boundFlops',
] as const;

export interface ResolvedPruneOptions {
  method: PruneMethod;
  pattern: SparsityPattern;
  dampening: number;
  blockSize: number;
  init: 'sparsegpt' | 'wanda' | 'magnitude' | 'all' | 'auto';
  rounds: number;
  swapBudget: number;
  swapSearch: 'exact' | 'fast' | 'auto';
  exactSwapFlops: number;
  tolerance: number;
  lowerBound: LowerBoundMethod;
  boundIterations: number;
  boundFlops: number;
}

function resolvePattern(value: unknown): SparsityPattern {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    optionFail('pattern', value, "an object {kind: 'unstructured' | 'columns', fraction} or {kind: 'nm', n, m}");
  }
  const p = value as Record<string, unknown>;
  const kind = checkOneOf('pattern.kind', p.kind, ['unstructured', 'nm', 'columns'] as const);
  if (kind === 'nm') {
    rejectUnknownKeys(p, ['kind', 'n', 'm'], 'pruneLayer `pattern`');
    const m = checkInteger('pattern.m', p.m, 1);
    const n = checkInteger('pattern.n', p.n, 0);
    if (n > m) throw new OptionError(`\`pattern.n\` must be <= pattern.m (keep n of every m). Received: n=${n}, m=${m}.`);
    return { kind, n, m };
  }
  rejectUnknownKeys(p, ['kind', 'fraction'], 'pruneLayer `pattern`');
  return { kind, fraction: checkFiniteNumber('pattern.fraction', p.fraction, 0, 1) };
}

/** Checks every option and fills in the defaults (see PruneLayerOptions). Needs no layer. */
export function resolvePruneOptions(options: PruneLayerOptions = {}): ResolvedPruneOptions {
  rejectUnknownKeys(options, PRUNE_LAYER_OPTION_KEYS, 'pruneLayer');
  const o = options as Record<string, unknown>;
  const has = (k: string) => o[k] !== undefined;
  return {
    method: has('method') ? checkOneOf('method', o.method, ['magnitude', 'wanda', 'sparsegpt', 'l0'] as const) : 'l0',
    pattern: has('pattern') ? resolvePattern(o.pattern) : { kind: 'unstructured', fraction: 0.5 },
    dampening: has('dampening') ? checkFiniteNumber('dampening', o.dampening, 0) : 0.01,
    blockSize: has('blockSize') ? checkInteger('blockSize', o.blockSize, 1) : 128,
    init: has('init') ? checkOneOf('init', o.init, ['sparsegpt', 'wanda', 'magnitude', 'all', 'auto'] as const) : 'auto',
    rounds: has('rounds') ? checkInteger('rounds', o.rounds, 1, 10000) : 10,
    swapBudget: has('swapBudget') ? checkInteger('swapBudget', o.swapBudget, 0) : 100,
    swapSearch: has('swapSearch') ? checkOneOf('swapSearch', o.swapSearch, ['exact', 'fast', 'auto'] as const) : 'auto',
    exactSwapFlops: has('exactSwapFlops') ? checkFiniteNumber('exactSwapFlops', o.exactSwapFlops, 0) : 2e5,
    tolerance: has('tolerance') ? checkFiniteNumber('tolerance', o.tolerance, 0, 1) : 1e-6,
    lowerBound: has('lowerBound') ? checkOneOf('lowerBound', o.lowerBound, ['none', 'diagonal', 'relaxation', 'auto'] as const) : 'auto',
    boundIterations: has('boundIterations') ? checkInteger('boundIterations', o.boundIterations, 1, 100000) : 30,
    boundFlops: has('boundFlops') ? checkFiniteNumber('boundFlops', o.boundFlops, 0) : 2e9,
  };
}

/** f(V) = tr((W - V) S (W - V)^T) in float64. */
export function pruneObjective(w: Float64Array, v: Float64Array, s: Float64Array, rows: number, cols: number): number {
  let f = 0;
  const d = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) d[c] = w[r * cols + c] - v[r * cols + c];
    for (let i = 0; i < cols; i++) {
      if (d[i] === 0) continue;
      let acc = 0;
      for (let c = 0; c < cols; c++) acc += s[i * cols + c] * d[c];
      f += d[i] * acc;
    }
  }
  return Math.max(0, f);
}

/** The masked start of a method (magnitude / wanda / sparsegpt). */
function oneShot(method: 'magnitude' | 'wanda' | 'sparsegpt', w: Float64Array, s: Float64Array, rows: number, cols: number, o: ResolvedPruneOptions) {
  if (method === 'sparsegpt') return sparseGpt(w, s, rows, cols, o.pattern, { dampening: o.dampening, blockSize: o.blockSize });
  const scores = method === 'magnitude' ? magnitudeScores(w) : wandaScores(w, s, rows, cols);
  const mask = selectMask(scores, rows, cols, o.pattern);
  return { values: applyMask(w, mask), mask };
}

/**
 * l0 from each start in `o.init` ('all': SparseGPT, Wanda and magnitude), keeping per row the best
 * (per layer for the shared 'columns' support: rows cannot mix supports there).
 */
function bestL0(w: Float64Array, s: Float64Array, rows: number, cols: number, o: ResolvedPruneOptions, extra: Partial<PruneStats>) {
  const k = keptPerRow(o.pattern, cols);
  const exact = o.swapSearch === 'exact' || (o.swapSearch === 'auto' && k * k * cols <= o.exactSwapFlops);
  const starts = o.init === 'all' || (o.init === 'auto' && exact) ? (['sparsegpt', 'wanda', 'magnitude'] as const) : [o.init === 'auto' ? 'sparsegpt' : o.init];
  let best: { values: Float64Array; mask: Uint8Array } | null = null;
  let bestRow: Float64Array | null = null;
  extra.swaps = 0;
  extra.rounds = 0;
  for (const init of starts) {
    const r = l0Prune(w, s, rows, cols, o.pattern, oneShot(init, w, s, rows, cols, o), {
      rounds: o.rounds, swapBudget: o.swapBudget, tolerance: o.tolerance, swapSearch: o.swapSearch, exactSwapFlops: o.exactSwapFlops,
    });
    extra.swaps += r.swaps;
    extra.rounds = Math.max(extra.rounds, r.rounds);
    const f = rowObjectives(w, r.values, s, rows, cols);
    if (!best || !bestRow) {
      best = { values: r.values, mask: r.mask };
      bestRow = f;
      continue;
    }
    if (o.pattern.kind === 'columns') {
      if (f.reduce((a, b) => a + b, 0) < bestRow.reduce((a, b) => a + b, 0)) { best = { values: r.values, mask: r.mask }; bestRow = f; }
      continue;
    }
    for (let row = 0; row < rows; row++) {
      if (f[row] >= bestRow[row]) continue;
      bestRow[row] = f[row];
      best.values.set(r.values.subarray(row * cols, (row + 1) * cols), row * cols);
      best.mask.set(r.mask.subarray(row * cols, (row + 1) * cols), row * cols);
    }
  }
  return best!;
}

/** f per row, float64. */
function rowObjectives(w: Float64Array, v: Float64Array, s: Float64Array, rows: number, cols: number): Float64Array {
  return Float64Array.from({ length: rows }, (_, r) =>
    pruneObjective(w.subarray(r * cols, (r + 1) * cols), v.subarray(r * cols, (r + 1) * cols), s, 1, cols));
}

/** Prunes one layer problem. Inputs are not disposed; the returned `weight` belongs to the caller. */
export function pruneLayer(problem: LayerProblem, options: PruneLayerOptions = {}): PrunedLayer {
  const o = resolvePruneOptions(options); // option errors before any tensor is read
  const t0 = performance.now();
  const { rows, cols, w: w32, s: s32 } = readProblem(problem);
  const w = Float64Array.from(w32);
  const s = Float64Array.from(s32);

  let values: Float64Array;
  let mask: Uint8Array;
  const extra: Partial<PruneStats> = {};
  if (o.method === 'l0') {
    ({ values, mask } = bestL0(w, s, rows, cols, o, extra));
  } else {
    ({ values, mask } = oneShot(o.method, w, s, rows, cols, o));
  }
  if (!maskFollows(mask, rows, cols, o.pattern)) throw new Error('Internal error: the pruning mask does not follow the pattern.');
  for (let k = 0; k < values.length; k++) if (!mask[k]) values[k] = 0;
  const out32 = Float32Array.from(values);

  const baseline = pruneObjective(w, new Float64Array(w.length), s, rows, cols);
  const objective = pruneObjective(w, Float64Array.from(out32), s, rows, cols);
  const method: Exclude<LowerBoundMethod, 'auto'> =
    o.lowerBound === 'auto' ? (rows * cols ** 3 * o.boundIterations / 3 <= o.boundFlops ? 'relaxation' : 'diagonal') : o.lowerBound;
  let lowerBound = 0;
  if (method === 'diagonal') lowerBound = diagonalBound(w, s, rows, cols, o.pattern);
  if (method === 'relaxation') {
    lowerBound = Math.max(diagonalBound(w, s, rows, cols, o.pattern), relaxationBound(w, s, rows, cols, o.pattern, o.boundIterations).bound);
  }
  lowerBound = Math.min(lowerBound, objective); // float round-off can put a tight bound a hair above
  let zeros = 0;
  for (let k = 0; k < out32.length; k++) if (out32[k] === 0) zeros++;
  const stats: PruneStats = {
    method: o.method,
    pattern: o.pattern,
    sparsity: zeros / out32.length,
    baseline,
    objective,
    relativeError: baseline > 0 ? objective / baseline : 0,
    lowerBound,
    lowerBoundMethod: method,
    gap: objective > 0 ? (objective - lowerBound) / objective : 0,
    ...extra,
    milliseconds: performance.now() - t0,
  };
  if (o.pattern.kind === 'columns') stats.keptColumns = mask.slice(0, cols).reduce((a, b) => a + b, 0);
  return { weight: tf.tensor2d(out32, [rows, cols]), mask, stats };
}
