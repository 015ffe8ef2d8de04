/**
 * Splitting a layer problem by rows and merging the parts' results.
 *
 * Given S, the rows of W are independent in every row-wise method: RTN rounds each row on its own
 * grid, GPTQ updates the later columns of a row from that row's own errors (through H = S), and
 * QuantEase's coordinate step for entry (r, j) reads only row r of P = (W - What) S. The objective
 * is a sum over rows, tr(D S D^T) = sum_r d_r S d_r^T, so the parts' statistics add up.
 * Not row-separable: the outlier-aware variant (its top-k is over the whole matrix, or over
 * whole columns when structured); it always runs in one piece.
 */
import type { Grid, QuantizedLayer, QuantizeLayerOptions, QuantizeStats } from '../../plugins/quantease/types.ts';
import { relativeError } from '../../plugins/quantease/objective.ts';

/** The part of a QuantizedLayer that crosses a thread boundary (no tensors). */
export interface RowPartResult {
  codes: Uint8Array;
  values: Float32Array;
  grid: Grid;
  stats: QuantizeStats;
}

/** Whether `options` quantize the rows of W independently (everything but outliers). */
export function rowSeparable(options: QuantizeLayerOptions): boolean {
  return !options.outliers;
}

/**
 * Rough flop count of quantizing W [out, in] with `options`: three objective evaluations
 * (2 out in^2 each) plus GPTQ's factorization and updates, plus 2 out in^2 per QuantEase sweep.
 */
export function estimatedFlops(out: number, inDim: number, options: QuantizeLayerOptions): number {
  const pass = 2 * out * inDim * inDim;
  const method = options.method ?? 'quantease';
  let flops = 3 * pass;
  if (method === 'gptq' || options.init === 'gptq') flops += pass + inDim ** 3 / 3;
  if (method === 'quantease') flops += (options.sweeps ?? 30) * pass;
  return flops;
}

/** Row ranges [start, end) of `parts` near-equal contiguous pieces of `rows` rows. */
export function rowRanges(rows: number, parts: number): Array<[number, number]> {
  const n = Math.max(1, Math.min(parts, rows));
  const out: Array<[number, number]> = [];
  for (let k = 0; k < n; k++) out.push([Math.floor((k * rows) / n), Math.floor(((k + 1) * rows) / n)]);
  return out;
}

/** Concatenates the parts (in row order) into one result: codes, values, grid and summed stats. */
export function mergeRowParts(parts: RowPartResult[], milliseconds: number): RowPartResult {
  const cat = <T extends Float32Array | Uint8Array>(make: (n: number) => T, pick: (p: RowPartResult) => T): T => {
    const out = make(parts.reduce((a, p) => a + pick(p).length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(pick(p), at);
      at += pick(p).length;
    }
    return out;
  };
  const g0 = parts[0].grid;
  const grid: Grid = {
    bits: g0.bits,
    groupSize: g0.groupSize,
    groups: g0.groups,
    rows: parts.reduce((a, p) => a + p.grid.rows, 0),
    scale: cat((n) => new Float32Array(n), (p) => p.grid.scale),
    zero: cat((n) => new Float32Array(n), (p) => p.grid.zero),
  };
  const s0 = parts[0].stats;
  const sum = (pick: (s: QuantizeStats) => number) => parts.reduce((a, p) => a + pick(p.stats), 0);
  const stats: QuantizeStats = {
    method: s0.method,
    bits: s0.bits,
    baseline: sum((s) => s.baseline),
    objectiveBefore: sum((s) => s.objectiveBefore),
    objectiveAfter: sum((s) => s.objectiveAfter),
    relativeError: 0,
    iterations: s0.iterations,
    milliseconds,
  };
  stats.relativeError = relativeError(stats.objectiveAfter, stats.baseline);
  if (s0.history) stats.history = s0.history.map((_, k) => parts.reduce((a, p) => a + (p.stats.history?.[k] ?? 0), 0));
  const fallback = parts.find((p) => p.stats.fallback)?.stats.fallback;
  if (fallback) stats.fallback = fallback;
  if (s0.dampeningUsed !== undefined) stats.dampeningUsed = s0.dampeningUsed;
  return {
    codes: cat((n) => new Uint8Array(n), (p) => p.codes),
    values: cat((n) => new Float32Array(n), (p) => p.values),
    grid,
    stats,
  };
}

/** A QuantizedLayer's transferable part (values read from its weight tensor). */
export function toRowPart(q: QuantizedLayer, values: Float32Array): RowPartResult {
  return { codes: q.codes, values, grid: q.grid, stats: q.stats };
}
