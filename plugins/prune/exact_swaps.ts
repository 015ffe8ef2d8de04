/**
 * Swap local search with the support refit exactly (the OBS algebra of one removal and one
 * addition), for rows whose support is small enough to invert. With T the support, Q = S_TT^-1,
 * v_T = Q (S w)_T optimal on T, p = S (w - v) (so p_T = 0), R = Q S_T: [k, n], G_j = S_jT R_:j:
 *
 *   remove i in T, refit T \ {i}:   f rises by  v_i^2 / Q_ii,   p'_j = p_j + v_i R_ij / Q_ii
 *   then add j, refit T \ {i} + {j}: f falls by  p'_j^2 / c_j,  c_j = S_jj - G_j + R_ij^2 / Q_ii
 *                                    (the Schur complement of S on T \ {i} at j)
 *   Delta_ij = v_i^2 / Q_ii - p'_j^2 / c_j       (exact: the objective after the swap and refit)
 *
 * Best improvement: the most negative Delta over all allowed pairs is applied, then everything is
 * recomputed; until no pair gains more than `tolerance` * f or `budget` swaps were made. For the
 * shared ('columns') support Q and R are shared by every row and Delta is summed over rows.
 * Cost per swap: k^3 / 3 + k^2 n (+ rows * k (n - k) to score the pairs).
 */
import { choleskyInPlace } from '../quantease/cholesky.ts';
import { runOf } from './pattern.ts';
import type { SparsityPattern } from './types.ts';

/** Inverse of an SPD matrix (k x k, row-major) by Cholesky; null when not positive definite. */
export function spdInverse(a: Float64Array, k: number): Float64Array | null {
  const l = Float64Array.from(a);
  if (!choleskyInPlace(l, k)) return null;
  // L^-1 by forward substitution, then Q = L^-T L^-1.
  const li = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    li[i * k + i] = 1 / l[i * k + i];
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let m = j; m < i; m++) s += l[i * k + m] * li[m * k + j];
      li[i * k + j] = -s / l[i * k + i];
    }
  }
  const q = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let m = i; m < k; m++) s += li[m * k + i] * li[m * k + j];
      q[i * k + j] = s;
      q[j * k + i] = s;
    }
  }
  return q;
}

interface Refit {
  support: number[];
  q: Float64Array;
  r: Float64Array; // [k, n]
  g: Float64Array; // [n]
}

/** Q, R, G for support T, or null when S_TT is singular. */
function refitFactors(s: Float64Array, n: number, support: number[]): Refit | null {
  const k = support.length;
  const stt = new Float64Array(k * k);
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) stt[a * k + b] = s[support[a] * n + support[b]];
  const q = spdInverse(stt, k);
  if (!q) return null;
  const r = new Float64Array(k * n);
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      const qab = q[a * k + b];
      if (qab === 0) continue;
      const sb = support[b] * n;
      for (let j = 0; j < n; j++) r[a * n + j] += qab * s[sb + j];
    }
  }
  const g = new Float64Array(n);
  for (let a = 0; a < k; a++) {
    const sa = support[a] * n;
    for (let j = 0; j < n; j++) g[j] += s[sa + j] * r[a * n + j];
  }
  return { support, q, r, g };
}

/** Sets row r of v to the optimum on `support` (v_T = Q (S w)_T) and p = S (w - v). */
function setOptimal(w: Float64Array, v: Float64Array, p: Float64Array, s: Float64Array, n: number, row: number, f: Refit): void {
  const base = row * n;
  const k = f.support.length;
  const b = new Float64Array(k);
  for (let a = 0; a < k; a++) {
    let acc = 0;
    const sa = f.support[a] * n;
    for (let j = 0; j < n; j++) acc += s[sa + j] * w[base + j];
    b[a] = acc;
  }
  v.fill(0, base, base + n);
  for (let a = 0; a < k; a++) {
    let acc = 0;
    for (let c = 0; c < k; c++) acc += f.q[a * k + c] * b[c];
    v[base + f.support[a]] = acc;
  }
  for (let i = 0; i < n; i++) {
    let acc = 0;
    const si = i * n;
    for (let j = 0; j < n; j++) acc += s[si + j] * (w[base + j] - v[base + j]);
    p[base + i] = acc;
  }
}

function rowF(w: Float64Array, v: Float64Array, p: Float64Array, n: number, row: number): number {
  let f = 0;
  for (let j = 0; j < n; j++) f += (w[row * n + j] - v[row * n + j]) * p[row * n + j];
  return f;
}

/**
 * Exact-refit swap search over `rowsOf` (one row, or every row for a shared support). Returns the
 * swaps made, or -1 when S_TT is singular (the caller keeps its other search).
 */
export function exactSwapSearch(
  w: Float64Array, v: Float64Array, p: Float64Array, s: Float64Array, mask: Uint8Array, n: number,
  rowsOf: number[], pattern: SparsityPattern, budget: number, tolerance: number,
): number {
  const first = rowsOf[0];
  let swaps = 0;
  for (let step = 0; step <= budget; step++) {
    const support: number[] = [];
    for (let j = 0; j < n; j++) if (mask[first * n + j]) support.push(j);
    const f = refitFactors(s, n, support);
    if (!f) return swaps === 0 ? -1 : swaps;
    let fNow = 0;
    for (const row of rowsOf) {
      setOptimal(w, v, p, s, n, row, f);
      fNow += rowF(w, v, p, n, row);
    }
    if (step === budget) break;
    const k = support.length;
    let best: [number, number] | null = null;
    let bestDelta = -tolerance * Math.max(fNow, 1e-300);
    for (let a = 0; a < k; a++) {
      const i = support[a];
      const qii = f.q[a * k + a];
      for (let j = 0; j < n; j++) {
        if (mask[first * n + j] || (pattern.kind === 'nm' && runOf(pattern, j) !== runOf(pattern, i))) continue;
        const rij = f.r[a * n + j];
        const c = s[j * n + j] - f.g[j] + (rij * rij) / qii;
        if (!(c > 1e-12 * s[j * n + j])) continue; // j is (numerically) in the span of T \ {i}
        let delta = 0;
        for (const row of rowsOf) {
          const vi = v[row * n + i];
          const pj = p[row * n + j] + (vi * rij) / qii;
          delta += (vi * vi) / qii - (pj * pj) / c;
        }
        if (delta < bestDelta) {
          bestDelta = delta;
          best = [i, j];
        }
      }
    }
    if (!best) break;
    for (const row of rowsOf) {
      mask[row * n + best[0]] = 0;
      mask[row * n + best[1]] = 1;
    }
    swaps++;
  }
  return swaps;
}

/** f of row `row` refit exactly on `support`, or Infinity when S_TT is singular. */
function refitValue(w: Float64Array, s: Float64Array, n: number, row: number, support: number[]): number {
  const f = refitFactors(s, n, support);
  if (!f) return Infinity;
  const k = support.length;
  const b = support.map((i) => { let acc = 0; for (let j = 0; j < n; j++) acc += s[i * n + j] * w[row * n + j]; return acc; });
  // f = w^T S w - b^T Q b
  let wsw = 0;
  for (let i = 0; i < n; i++) { let acc = 0; for (let j = 0; j < n; j++) acc += s[i * n + j] * w[row * n + j]; wsw += w[row * n + i] * acc; }
  let bqb = 0;
  for (let a = 0; a < k; a++) for (let c = 0; c < k; c++) bqb += b[a] * f.q[a * k + c] * b[c];
  return wsw - bqb;
}

function combinations(items: number[], k: number): number[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [head, ...rest] = items;
  return [...combinations(rest, k - 1).map((c) => [head, ...c]), ...combinations(rest, k)];
}

/**
 * N:M block moves: for each run of m inputs, every one of its C(m, n) supports is tried with the
 * other runs fixed, each refit exactly; the best is kept. Rounds until no run changes (at most
 * `budget` changes). A larger neighbourhood than single swaps: block coordinate descent over runs.
 * Leaves row `row` of v, p optimal on its support. Returns the changes made.
 */
export function exactRunSearch(
  w: Float64Array, v: Float64Array, p: Float64Array, s: Float64Array, mask: Uint8Array, n: number,
  row: number, pattern: Extract<SparsityPattern, { kind: 'nm' }>, budget: number, tolerance: number,
): number {
  let changes = 0;
  const supportNow = () => { const t: number[] = []; for (let j = 0; j < n; j++) if (mask[row * n + j]) t.push(j); return t; };
  let fNow = refitValue(w, s, n, row, supportNow());
  for (let improved = true; improved && changes < budget; ) {
    improved = false;
    for (let start = 0; start < n && changes < budget; start += pattern.m) {
      const run = Array.from({ length: Math.min(pattern.m, n - start) }, (_, a) => start + a);
      const keep = Math.min(pattern.n, run.length);
      const others = supportNow().filter((j) => j < start || j >= start + pattern.m);
      let best: number[] | null = null;
      let bestF = fNow - tolerance * Math.max(fNow, 1e-300);
      for (const choice of combinations(run, keep)) {
        const value = refitValue(w, s, n, row, [...others, ...choice].sort((a, b) => a - b));
        if (value < bestF) { bestF = value; best = choice; }
      }
      if (!best) continue;
      for (const j of run) mask[row * n + j] = 0;
      for (const j of best) mask[row * n + j] = 1;
      fNow = bestF;
      changes++;
      improved = true;
    }
  }
  const f = refitFactors(s, n, supportNow());
  if (f) setOptimal(w, v, p, s, n, row, f);
  return changes;
}
