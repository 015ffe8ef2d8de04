/**
 * The exact optimum of small pruning problems, by enumeration of every support, each refit by a
 * float64 least-squares solve written here (independent of the library):
 *
 *   min ||X (w - v)||^2 over v supported on T:   S_TT v_T = (S w)_T
 */
import { keptPerRow } from '../../../plugins/prune/index.ts';
import type { SparsityPattern } from '../../../plugins/prune/index.ts';

/** Solves a x = b (a symmetric positive definite, k x k) by Gaussian elimination with pivoting. */
function solve(a: number[][], b: number[]): number[] {
  const k = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    for (let r = c + 1; r < k; r++) {
      const f = m[r][c] / m[c][c];
      for (let j = c; j <= k; j++) m[r][j] -= f * m[c][j];
    }
  }
  const x = new Array<number>(k).fill(0);
  for (let r = k - 1; r >= 0; r--) {
    let acc = m[r][k];
    for (let j = r + 1; j < k; j++) acc -= m[r][j] * x[j];
    x[r] = acc / m[r][r];
  }
  return x;
}

/** d^T S d for one row. */
function rowValue(s: Float32Array, n: number, d: number[]): number {
  let f = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) f += d[i] * s[i * n + j] * d[j];
  return f;
}

/** Best value of one row over support T (least squares on T). */
function rowBest(w: number[], s: Float32Array, n: number, support: number[]): number {
  if (support.length === 0) return rowValue(s, n, w);
  const sw = Array.from({ length: n }, (_, i) => w.reduce((acc, wj, j) => acc + s[i * n + j] * wj, 0));
  const vT = solve(support.map((i) => support.map((j) => s[i * n + j])), support.map((i) => sw[i]));
  const v = new Array<number>(n).fill(0);
  support.forEach((i, a) => (v[i] = vT[a]));
  return rowValue(s, n, w.map((x, i) => x - v[i]));
}

function subsets(items: number[], k: number): number[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first, ...s]), ...subsets(rest, k)];
}

/** Exact optimum of the whole layer under a pattern, by enumeration. */
export function exactOptimum(w: Float32Array, s: Float32Array, rows: number, n: number, pattern: SparsityPattern): number {
  const row = (r: number) => Array.from(w.subarray(r * n, (r + 1) * n));
  const all = Array.from({ length: n }, (_, i) => i);
  if (pattern.kind === 'columns') {
    let best = Infinity;
    for (const T of subsets(all, keptPerRow(pattern, n))) {
      let f = 0;
      for (let r = 0; r < rows; r++) f += rowBest(row(r), s, n, T);
      best = Math.min(best, f);
    }
    return best;
  }
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let candidates: number[][];
    if (pattern.kind === 'nm') {
      candidates = [[]];
      for (let g = 0; g < n; g += pattern.m) {
        const run = all.slice(g, g + pattern.m);
        candidates = candidates.flatMap((c) => subsets(run, Math.min(pattern.n, run.length)).map((t) => [...c, ...t]));
      }
    } else {
      candidates = subsets(all, keptPerRow(pattern, n));
    }
    total += Math.min(...candidates.map((T) => rowBest(row(r), s, n, T)));
  }
  return total;
}


/** The three pattern kinds the prune tests run, labelled. */
export const PATTERNS: Array<[string, SparsityPattern]> = [
  ['unstructured 50%', { kind: 'unstructured', fraction: 0.5 }],
  ['2:4', { kind: 'nm', n: 2, m: 4 }],
  ['columns 50%', { kind: 'columns', fraction: 0.5 }],
];
