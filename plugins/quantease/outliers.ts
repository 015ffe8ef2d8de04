/**
 * Outlier-aware QuantEase (Behdin et al. 2023, Section 4, Algorithm 2): What on the grid plus a
 * sparse full-precision H,
 *
 *   min f(What + H) = tr((W - What - H) S (W - What - H)^T),   |supp H| <= k
 *
 *   k = round(fraction * out * in) entries (unstructured)  or  round(fraction * in) whole input
 *   columns (structured).
 *   Start: H = W on the k largest |W_ij| (or the k columns of largest norm), What = W - H, the
 *   grid fitted on W without those entries. Then alternate
 *     1. one QuantEase sweep on What toward the target W - H (see quantease.ts);
 *     2. one projected gradient step on H:
 *          H <- top_k(H - eta (H + What - W) S) = top_k(H + eta P),   eta = 1 / (2 lambda_max(S))
 *        (lambda_max by seeded power iteration). The step is half of 1 / L (L = 2 lambda_max), so
 *        f never rises in it.
 *
 * Result: every entry off supp H is on the grid; on supp H (exactly k entries, or k columns)
 * the weight is What + H in full precision, stored as the outlier value with the code of 0.
 * (The authors' public code never writes What back and returns W unquantized; this is the math.)
 *
 * S = 0 (or lambda_max(S) = 0: every input dead): f does not depend on H, the gradient is 0 and
 * the H step is skipped (eta would be 1 / 0); H stays the k largest |W|, What = round(W - H).
 */
import type { Grid, Outliers } from './types.ts';
import type { DenseProblem } from './problem.ts';
import type { ResolvedOutliers } from './options.ts';
import { quantizeAll } from './grid.ts';
import { createSweepContext, currentWhat, disposeContext, isRoundedSweep, refreshResidual, residualObjective, setTarget, sweep, type QuantEaseRunOptions } from './quantease.ts';

export interface OutlierResult {
  codes: Uint8Array;
  /** Final weight: grid values off the support, full precision on it. */
  values: Float32Array;
  grid: Grid;
  outliers: Outliers;
  /** f after each rounded sweep (and its H step). */
  history: number[];
  /** The rounded start round(W - H0) + H0, [rows, cols] (for objectiveBefore). */
  start: Float32Array;
}

/** The k-th largest of `a` (0 < k <= a.length) by quickselect on a copy. */
function kthLargest(a: Float32Array, k: number): number {
  const v = Float32Array.from(a);
  let lo = 0;
  let hi = v.length - 1;
  const target = v.length - k; // index in ascending order
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    // median of three as pivot
    const x = v[lo], y = v[mid], z = v[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i <= j) {
        const t = v[i]; v[i] = v[j]; v[j] = t;
        i++; j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return v[target];
  }
  return v[target];
}

/** Indices (ascending) of exactly k largest scores; ties broken by lower index. */
export function topK(scores: Float32Array, k: number): Int32Array {
  const n = scores.length;
  if (k <= 0) return new Int32Array(0);
  if (k >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const thr = kthLargest(scores, k);
  let above = 0;
  for (let i = 0; i < n; i++) if (scores[i] > thr) above++;
  let ties = k - above;
  const out = new Int32Array(k);
  let m = 0;
  for (let i = 0; i < n; i++) {
    if (scores[i] > thr) out[m++] = i;
    else if (scores[i] === thr && ties > 0) { out[m++] = i; ties--; }
  }
  return out;
}

/** Support of top_k(V) as a 0/1 mask over [rows, cols]: entries, or whole columns by norm. */
export function supportOf(v: Float32Array, rows: number, cols: number, k: number, structured: boolean): Uint8Array {
  const mask = new Uint8Array(rows * cols);
  if (structured) {
    const norms = new Float32Array(cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) norms[c] += v[r * cols + c] * v[r * cols + c];
    for (const c of topK(norms, k)) for (let r = 0; r < rows; r++) mask[r * cols + c] = 1;
  } else {
    const mags = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) mags[i] = Math.abs(v[i]);
    for (const i of topK(mags, k)) mask[i] = 1;
  }
  return mask;
}

/** Largest eigenvalue of the symmetric PSD s [n, n] by power iteration from a seeded start. */
export function largestEigenvalue(s: Float32Array, n: number, iterations = 50, seed = 1): number {
  let v = new Float64Array(n);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0; // LCG
    v[i] = state / 2 ** 32 - 0.5;
  }
  let lambda = 0;
  for (let it = 0; it < iterations; it++) {
    let norm = 0;
    for (let i = 0; i < n; i++) norm += v[i] * v[i];
    norm = Math.sqrt(norm);
    if (norm === 0) return 0;
    for (let i = 0; i < n; i++) v[i] /= norm;
    const sv = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let acc = 0;
      const ri = i * n;
      for (let j = 0; j < n; j++) acc += s[ri + j] * v[j];
      sv[i] = acc;
    }
    lambda = 0;
    for (let i = 0; i < n; i++) lambda += v[i] * sv[i]; // Rayleigh quotient
    v = sv;
  }
  return lambda;
}

/**
 * Outlier-aware QuantEase of the problem's W. The grid is fitted here by `fitGridWithout`, on W
 * without the starting outliers.
 */
export function outlierQuantEase(problem: DenseProblem, fitGridWithout: (exclude: Uint8Array) => Grid, spec: ResolvedOutliers, options: QuantEaseRunOptions): OutlierResult {
  const { w, s, rows, cols } = problem;
  const k = spec.structured ? Math.round(spec.fraction * cols) : Math.round(spec.fraction * rows * cols);
  let mask = supportOf(w, rows, cols, k, spec.structured);
  const h = new Float32Array(rows * cols);
  for (let i = 0; i < h.length; i++) if (mask[i]) h[i] = w[i];
  const grid = fitGridWithout(mask);
  const target = new Float32Array(rows * cols);
  for (let i = 0; i < target.length; i++) target[i] = w[i] - h[i];
  // The rounded start, for stats: round(W - H0) + H0.
  const start = quantizeAll(target, grid, cols).values;
  for (let i = 0; i < start.length; i++) if (mask[i]) start[i] = w[i];

  const ctx = createSweepContext(problem, grid, options.blockSize, target, target);
  const lambdaMax = k > 0 ? largestEigenvalue(s, cols) : 0;
  // eta = 1 / (2 lambda_max); no step when S has no positive eigenvalue (the gradient is 0).
  const eta = lambdaMax > 0 ? 1 / (2 * lambdaMax) : 0;
  const history: number[] = [];
  try {
    for (let t = 0; t < options.sweeps; t++) {
      const rounded = isRoundedSweep(t, options.sweeps, options.unroundedSweepEvery, options.unroundedUntil);
      sweep(ctx, rounded);
      if (k > 0 && eta > 0 && Number.isFinite(eta)) {
        // H + eta P, P = (W - H - What) S = -(H + What - W) S; P^T is [cols, rows].
        const pt = ctx.pt.dataSync();
        const cand = new Float32Array(rows * cols);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) cand[r * cols + c] = h[r * cols + c] + eta * pt[c * rows + r];
        }
        mask = supportOf(cand, rows, cols, k, spec.structured);
        for (let i = 0; i < h.length; i++) {
          h[i] = mask[i] ? cand[i] : 0;
          target[i] = w[i] - h[i];
        }
        setTarget(ctx, target);
        refreshResidual(ctx);
      }
      if (rounded) history.push(residualObjective(ctx));
      options.onProgress?.(t + 1, options.sweeps);
    }
    const what = currentWhat(ctx);
    const { codes, values } = quantizeAll(what, grid, cols);
    const indices: number[] = [];
    for (let i = 0; i < mask.length; i++) {
      if (!mask[i]) continue;
      indices.push(i);
      const g = Math.floor(i / cols) * grid.groups + (((i % cols) / grid.groupSize) | 0);
      codes[i] = grid.zero[g]; // dequantizes to exactly 0
      values[i] = Math.fround(what[i] + h[i]);
    }
    const idx = Int32Array.from(indices);
    const outliers: Outliers = { indices: idx, values: Float32Array.from(idx, (i) => values[i]) };
    return { codes, values, grid, outliers, history, start };
  } finally {
    disposeContext(ctx);
  }
}
