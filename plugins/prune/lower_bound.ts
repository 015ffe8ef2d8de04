/**
 * Certified lower bounds on the optimal value of the pruning problem (what no one-shot method
 * reports), so a result can be said to be within x% of optimal.
 *
 * Split S = A + D with D = t diag(S) diagonal and A = S - D positive semidefinite (t is the
 * smallest eigenvalue of diag(S)^-1/2 S diag(S)^-1/2, certified by a Cholesky factorization of
 * S - t diag(S) + 0). Dead inputs (S_jj = 0) are left out: they do not touch f.
 *
 * 'diagonal'   f(v) >= sum_j D_jj (w_j - v_j)^2 >= the sum of D_jj w_j^2 over the cheapest set
 *              of coordinates the pattern must prune.                         (instant, weak)
 *
 * 'relaxation' the perspective relaxation (as GraphL0BnB bounds its nodes): with z in {0, 1}^n
 *              marking kept weights, v_j^2 = v_j^2 / z_j on every feasible point, so
 *                f* >= min_{z in P} phi(z),   P = conv(pattern) = {0 <= z <= 1, sum_run z <= kept}
 *                phi(z) = min_v (w - v)^T A (w - v) + sum_j D_jj (w_j^2 - 2 w_j v_j + v_j^2 / z_j)
 *                       = w^T S w - b^T (A + D Z^-1)^-1 b,     b = S w
 *              phi is convex (a partial minimum of a perspective), with
 *                d phi / d z_j = -D_jj (u_j / z_j)^2,   u = (A + D Z^-1)^-1 b.
 *              Frank-Wolfe on P; every iterate certifies
 *                min_P phi >= phi(z) + min_{s in P} grad(z) . (s - z)      (the linear step)
 *              and the best of those is returned. 'columns' shares z across rows (phi summed).
 */
import { choleskyInPlace as cholesky } from '../quantease/cholesky.ts';
import { keptPerRow, runsOf } from './pattern.ts';
import type { SparsityPattern } from './types.ts';

/** Solves L L^T x = b in place (L from cholesky). */
function cholSolve(l: Float64Array, n: number, b: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * b[k];
    b[i] = s / l[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * b[k];
    b[i] = s / l[i * n + i];
  }
}

/** Live (S_jj > 0) columns, and S restricted to them. */
function live(s: Float64Array, cols: number): { idx: number[]; sl: Float64Array } {
  const idx: number[] = [];
  for (let c = 0; c < cols; c++) if (s[c * cols + c] > 0) idx.push(c);
  const n = idx.length;
  const sl = new Float64Array(n * n);
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) sl[a * n + b] = s[idx[a] * cols + idx[b]];
  return { idx, sl };
}

/**
 * The largest t (up to a certified margin) with S - t diag(S) positive semidefinite, on the live
 * columns: bisection, each step certified by a Cholesky factorization of S - t diag(S) (+ a tiny ridge).
 */
export function diagonalShare(sl: Float64Array, n: number, steps = 30): number {
  if (n === 0) return 0;
  const tryT = (t: number) => {
    const a = Float64Array.from(sl);
    for (let j = 0; j < n; j++) a[j * n + j] -= t * sl[j * n + j];
    return cholesky(a, n);
  };
  let lo = 0;
  let hi = 1; // S - diag(S) has zero diagonal: indefinite unless n = 1
  if (n === 1) return 1 - 1e-12;
  if (!tryT(lo)) return 0;
  for (let k = 0; k < steps; k++) {
    const mid = (lo + hi) / 2;
    if (tryT(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

export interface BoundResult {
  bound: number;
  method: 'diagonal' | 'relaxation';
  iterations: number;
}

/** Runs of live columns in local indices, with the number each keeps at most. */
function liveRuns(pattern: SparsityPattern, cols: number, idx: number[]): Array<{ members: number[]; keep: number }> {
  const local = new Map(idx.map((c, a) => [c, a]));
  return runsOf(pattern, cols).map(([s, e, keep]) => {
    const members: number[] = [];
    for (let c = s; c < e; c++) if (local.has(c)) members.push(local.get(c)!);
    return { members, keep: Math.min(keep, members.length) };
  });
}

/** The 'diagonal' bound: cheapest forced pruning under D = t diag(S). */
export function diagonalBound(w: Float64Array, s: Float64Array, rows: number, cols: number, pattern: SparsityPattern): number {
  const { idx, sl } = live(s, cols);
  const t = diagonalShare(sl, idx.length);
  const cost = (r: number, a: number) => t * sl[a * idx.length + a] * w[r * cols + idx[a]] ** 2;
  const dead = cols - idx.length;
  let bound = 0;
  if (pattern.kind === 'columns') {
    // Dead columns are pruned for free first.
    const prune = Math.max(0, cols - keptPerRow(pattern, cols) - dead);
    const totals = idx.map((_, a) => { let c = 0; for (let r = 0; r < rows; r++) c += cost(r, a); return c; }).sort((x, y) => x - y);
    for (let k = 0; k < prune; k++) bound += totals[k];
    return bound;
  }
  const runs = liveRuns(pattern, cols, idx);
  for (let r = 0; r < rows; r++) {
    for (const run of runs) {
      const c = run.members.map((a) => cost(r, a)).sort((x, y) => x - y);
      for (let k = 0; k < run.members.length - run.keep; k++) bound += c[k];
    }
  }
  return bound;
}

/** Frank-Wolfe on the perspective relaxation; returns the best certified bound seen. */
export function relaxationBound(w: Float64Array, s: Float64Array, rows: number, cols: number, pattern: SparsityPattern, iterations: number): BoundResult {
  const { idx, sl } = live(s, cols);
  const n = idx.length;
  if (n === 0) return { bound: 0, method: 'relaxation', iterations: 0 };
  const t = diagonalShare(sl, n);
  const dd = Float64Array.from({ length: n }, (_, a) => t * sl[a * n + a]);
  const runs = liveRuns(pattern, cols, idx);
  const shared = pattern.kind === 'columns';
  const groups = shared ? 1 : rows;
  // z per row (or one shared), feasible start: keep/size of its run.
  const z: Float64Array[] = Array.from({ length: groups }, () => {
    const zr = new Float64Array(n);
    for (const run of runs) for (const a of run.members) zr[a] = run.members.length ? run.keep / run.members.length : 0;
    return zr;
  });
  const rowsOf = (g: number) => (shared ? Array.from({ length: rows }, (_, r) => r) : [g]);
  const wl = (r: number) => Float64Array.from(idx, (c) => w[r * cols + c]);
  const sw = (x: Float64Array) => {
    const b = new Float64Array(n);
    for (let i = 0; i < n; i++) { let acc = 0; for (let j = 0; j < n; j++) acc += sl[i * n + j] * x[j]; b[i] = acc; }
    return b;
  };
  const rowData = Array.from({ length: rows }, (_, r) => { const x = wl(r); const b = sw(x); let q = 0; for (let i = 0; i < n; i++) q += x[i] * b[i]; return { b, q }; });

  let best = 0;
  let it = 0;
  for (; it < iterations; it++) {
    let phi = 0;
    let linear = 0;
    for (let g = 0; g < groups; g++) {
      const zg = z[g];
      const m = Float64Array.from(sl);
      for (let a = 0; a < n; a++) m[a * n + a] += dd[a] * (1 / Math.max(zg[a], 1e-12) - 1);
      if (!cholesky(m, n)) return { bound: best, method: 'relaxation', iterations: it };
      const grad = new Float64Array(n);
      for (const r of rowsOf(g)) {
        const { b, q } = rowData[r];
        const u = Float64Array.from(b);
        cholSolve(m, n, u);
        let bu = 0;
        for (let a = 0; a < n; a++) bu += b[a] * u[a];
        phi += q - bu;
        for (let a = 0; a < n; a++) grad[a] -= dd[a] * (u[a] / Math.max(zg[a], 1e-12)) ** 2;
      }
      // Linear step: in every run, put 1 on the `keep` most negative gradients (all are <= 0).
      const sVertex = new Float64Array(n);
      for (const run of runs) {
        const order = [...run.members].sort((x, y) => grad[x] - grad[y]);
        for (const a of order.slice(0, run.keep)) sVertex[a] = 1;
      }
      for (let a = 0; a < n; a++) linear += grad[a] * (sVertex[a] - zg[a]);
      const step = 2 / (it + 3); // < 1: z stays inside P, where phi is finite
      for (let a = 0; a < n; a++) zg[a] += step * (sVertex[a] - zg[a]);
    }
    best = Math.max(best, phi + linear);
  }
  return { bound: Math.max(0, best), method: 'relaxation', iterations: it };
}
