/**
 * l0-constrained layer pruning by coordinate descent and local search, the primal engine of
 * GraphL0BnB (Behdin, Chen, Mazumder 2023) and of multi-task best-subset selection (Loewinger,
 * Behdin et al. 2022), on the layer problem
 *
 *   min_V  f(V) = tr((W - V) S (W - V)^T)   s.t.  V_r supported on T_r,  T_r in the pattern.
 *
 * State per row: v (the row of V) and p = S (w - v). With d = w - v:
 *
 *   coordinate step (j in T):    v_j <- v_j + p_j / S_jj,     p <- p - (p_j / S_jj) S_:j
 *                                (exact minimization over v_j; f drops by p_j^2 / S_jj)
 *   swap (i in T out, j not in T in), from the current point, in closed form:
 *     remove i:  v_i <- 0            f rises by  2 v_i p_i + S_ii v_i^2,   p <- p + v_i S_:i
 *     add j:     v_j <- p'_j / S_jj  f falls by  p'_j^2 / S_jj,            p'_j = p_j + S_ji v_i
 *     Delta_ij = 2 v_i p_i + S_ii v_i^2 - (p_j + S_ji v_i)^2 / S_jj       (made when < 0)
 *
 * Two swap searches, chosen per row by cost (`swapSearch`):
 * - 'exact' (exact_swaps.ts): every swap scored with the support refit exactly (OBS algebra),
 *   best improvement first: finds the optimum of small problems almost always; costs
 *   k^3 / 3 + k^2 n per swap, so 'auto' uses it while k^2 n <= `exactSwapFlops`.
 * - 'fast' (this file): rounds of coordinate-descent sweeps over the support until they stall,
 *   then one swap pass scored with the other weights fixed (Delta_ij above): for each pruned j,
 *   best first by p_j^2 / S_jj, the best i in T (in j's own run of m for N:M).
 * For N:M the exact search also re-chooses whole runs of m (every C(m, n) support of a run with the
 * other runs fixed: block coordinate descent over runs). At most `swapBudget` swaps per row (per layer for 'columns', where the support is shared, a swap
 * exchanges one column in every row at once and Delta is summed over rows). Rounds stop when f
 * falls by less than `tolerance` * f. f never rises: every step is an exact minimization or a
 * swap with Delta < 0.
 */
import { exactRunSearch, exactSwapSearch } from './exact_swaps.ts';
import { keptPerRow, runOf } from './pattern.ts';
import type { SparsityPattern } from './types.ts';

export interface L0Options {
  rounds: number;
  swapBudget: number;
  tolerance: number;
  swapSearch: 'exact' | 'fast' | 'auto';
  /** 'auto' scores swaps exactly while k^2 n (the cost of one exact swap) stays under this. */
  exactSwapFlops: number;
}

export interface L0Result {
  values: Float64Array;
  mask: Uint8Array;
  swaps: number;
  rounds: number;
}

/** p = S (w - v) for every row: [rows, cols]. */
function residualCorrelation(w: Float64Array, v: Float64Array, s: Float64Array, rows: number, cols: number): Float64Array {
  const p = new Float64Array(rows * cols);
  const d = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) d[c] = w[r * cols + c] - v[r * cols + c];
    for (let i = 0; i < cols; i++) {
      let acc = 0;
      const si = i * cols;
      for (let c = 0; c < cols; c++) acc += s[si + c] * d[c];
      p[r * cols + i] = acc;
    }
  }
  return p;
}

/** f of one row: d . p. */
function rowObjective(w: Float64Array, v: Float64Array, p: Float64Array, r: number, cols: number): number {
  let f = 0;
  for (let c = 0; c < cols; c++) f += (w[r * cols + c] - v[r * cols + c]) * p[r * cols + c];
  return f;
}

/** v_rj += delta, keeping p = S (w - v). */
function move(v: Float64Array, p: Float64Array, s: Float64Array, r: number, j: number, delta: number, cols: number): void {
  if (delta === 0) return;
  v[r * cols + j] += delta;
  const base = r * cols;
  const sj = j * cols;
  for (let c = 0; c < cols; c++) p[base + c] -= delta * s[sj + c];
}

/** Coordinate-descent sweeps over row r's support until a sweep gains less than tol * f. */
function refitRow(w: Float64Array, v: Float64Array, p: Float64Array, s: Float64Array, mask: Uint8Array, r: number, cols: number, tol: number): void {
  for (let sweep = 0; sweep < 50; sweep++) {
    let gain = 0;
    for (let j = 0; j < cols; j++) {
      const sjj = s[j * cols + j];
      if (!mask[r * cols + j] || !(sjj > 0)) continue;
      const pj = p[r * cols + j];
      gain += (pj * pj) / sjj;
      move(v, p, s, r, j, pj / sjj, cols);
    }
    if (gain <= tol * Math.max(rowObjective(w, v, p, r, cols), 1e-300)) return;
  }
}

/** One swap pass on row r. Returns the swaps made. */
function swapRow(v: Float64Array, p: Float64Array, s: Float64Array, mask: Uint8Array, r: number, cols: number, pattern: SparsityPattern, budget: number, fNow: number, tol: number): number {
  const base = r * cols;
  const pruned: number[] = [];
  for (let j = 0; j < cols; j++) if (!mask[base + j] && s[j * cols + j] > 0) pruned.push(j);
  const gainAlone = (j: number) => (p[base + j] * p[base + j]) / s[j * cols + j];
  pruned.sort((a, b) => gainAlone(b) - gainAlone(a) || a - b);
  let swaps = 0;
  for (const j of pruned.slice(0, budget)) {
    if (mask[base + j]) continue;
    const sjj = s[j * cols + j];
    const run = runOf(pattern, j);
    let best = -1;
    let bestDelta = -tol * Math.max(fNow, 1e-300);
    for (let i = 0; i < cols; i++) {
      if (!mask[base + i] || (pattern.kind === 'nm' && runOf(pattern, i) !== run)) continue;
      const vi = v[base + i];
      const pj = p[base + j] + s[j * cols + i] * vi;
      const delta = 2 * vi * p[base + i] + s[i * cols + i] * vi * vi - (pj * pj) / sjj;
      if (delta < bestDelta) {
        bestDelta = delta;
        best = i;
      }
    }
    if (best < 0) continue;
    move(v, p, s, r, best, -v[base + best], cols);
    mask[base + best] = 0;
    mask[base + j] = 1;
    move(v, p, s, r, j, p[base + j] / sjj, cols);
    fNow += bestDelta;
    swaps++;
  }
  return swaps;
}

/** Column swap pass for the shared ('columns') support. Returns the swaps made. */
function swapColumns(v: Float64Array, p: Float64Array, s: Float64Array, mask: Uint8Array, rows: number, cols: number, budget: number, fNow: number, tol: number): number {
  const kept = () => Array.from({ length: cols }, (_, c) => c).filter((c) => mask[c]);
  const pruned = Array.from({ length: cols }, (_, c) => c).filter((c) => !mask[c] && s[c * cols + c] > 0);
  const gainAlone = (j: number) => {
    let g = 0;
    for (let r = 0; r < rows; r++) g += p[r * cols + j] ** 2;
    return g / s[j * cols + j];
  };
  pruned.sort((a, b) => gainAlone(b) - gainAlone(a) || a - b);
  let swaps = 0;
  for (const j of pruned.slice(0, budget)) {
    const sjj = s[j * cols + j];
    let best = -1;
    let bestDelta = -tol * Math.max(fNow, 1e-300);
    for (const i of kept()) {
      let delta = 0;
      for (let r = 0; r < rows; r++) {
        const vi = v[r * cols + i];
        const pj = p[r * cols + j] + s[j * cols + i] * vi;
        delta += 2 * vi * p[r * cols + i] + s[i * cols + i] * vi * vi - (pj * pj) / sjj;
      }
      if (delta < bestDelta) {
        bestDelta = delta;
        best = i;
      }
    }
    if (best < 0) continue;
    for (let r = 0; r < rows; r++) {
      move(v, p, s, r, best, -v[r * cols + best], cols);
      mask[r * cols + best] = 0;
      mask[r * cols + j] = 1;
      move(v, p, s, r, j, p[r * cols + j] / sjj, cols);
    }
    fNow += bestDelta;
    swaps++;
  }
  return swaps;
}

/** l0 coordinate descent + local search from a feasible start (values zero off `start.mask`). */
export function l0Prune(
  w: Float64Array, s: Float64Array, rows: number, cols: number, pattern: SparsityPattern,
  start: { values: Float64Array; mask: Uint8Array }, options: L0Options,
): L0Result {
  const v = Float64Array.from(start.values);
  const mask = Uint8Array.from(start.mask);
  const p = residualCorrelation(w, v, s, rows, cols);
  const k = keptPerRow(pattern, cols);
  const exact = options.swapSearch === 'exact' || (options.swapSearch === 'auto' && k * k * cols <= options.exactSwapFlops);
  if (exact) {
    const groups = pattern.kind === 'columns' ? [Array.from({ length: rows }, (_, r) => r)] : Array.from({ length: rows }, (_, r) => [r]);
    let swaps = 0;
    let failed = false;
    for (const g of groups) {
      const made = exactSwapSearch(w, v, p, s, mask, cols, g, pattern, options.swapBudget, options.tolerance);
      if (made < 0) {
        failed = true; // a singular S_TT (dead inputs on the support): the fast search below
        continue;
      }
      swaps += made;
      // N:M: then whole runs re-chosen (block moves), then swaps again from there.
      if (pattern.kind === 'nm' && exactRunSearch(w, v, p, s, mask, cols, g[0], pattern, options.swapBudget, options.tolerance) > 0) {
        swaps += Math.max(0, exactSwapSearch(w, v, p, s, mask, cols, g, pattern, options.swapBudget, options.tolerance));
      }
    }
    if (!failed) return { values: v, mask, swaps, rounds: 1 };
  }
  const total = () => {
    let f = 0;
    for (let r = 0; r < rows; r++) f += rowObjective(w, v, p, r, cols);
    return f;
  };
  let swaps = 0;
  let rounds = 0;
  let f = Infinity;
  for (; rounds < options.rounds; ) {
    rounds++;
    for (let r = 0; r < rows; r++) refitRow(w, v, p, s, mask, r, cols, options.tolerance);
    const fRefit = total();
    let made = 0;
    if (pattern.kind === 'columns') {
      made = swapColumns(v, p, s, mask, rows, cols, options.swapBudget, fRefit, options.tolerance);
    } else {
      for (let r = 0; r < rows; r++) {
        made += swapRow(v, p, s, mask, r, cols, pattern, options.swapBudget, rowObjective(w, v, p, r, cols), options.tolerance);
      }
    }
    swaps += made;
    const before = f;
    f = total();
    if (made === 0 || before - f <= options.tolerance * f) break;
  }
  for (let r = 0; r < rows; r++) refitRow(w, v, p, s, mask, r, cols, options.tolerance);
  return { values: v, mask, swaps, rounds };
}
