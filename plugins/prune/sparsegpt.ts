/**
 * SparseGPT (Frantar and Alistarh, "SparseGPT: Massive Language Models Can Be Accurately Pruned
 * in One-Shot", ICML 2023, Algorithm 1): GPTQ's column sweep with the quantizer replaced by a mask.
 *
 *   H = S + lambda I,  lambda = dampening * mean(diag S);   U = upper Cholesky factor of H^-1
 *   for each block B of `blockSize` columns (left to right):
 *     mask selection inside B (adaptive): per row, prune the entries of lowest w_c^2 / U_cc^2
 *       (for N:M: at the first column of every run of m, prune its m - n lowest)
 *     for each column i in B:  e_r = (w_ri - mask_ri * w_ri) / U_ii;   w_rj -= e_r U_ij  (j > i)
 *
 * Unstructured: each row prunes round(fraction * in) in all, spread over the blocks by cumulative
 * rounding. Columns: the pruned columns are chosen once, up front, by sum_r w_rc^2 / U_cc^2.
 * Dead inputs (S_cc = 0) get H_cc = 1, as in GPTQ. All arithmetic in float64.
 */
import { upperCholeskyOfInverse } from '../quantease/cholesky.ts';
import { keptPerRow, runOf, runsOf, selectMask } from './pattern.ts';
import type { SparsityPattern } from './types.ts';

export interface SparseGptOptions {
  dampening: number;
  blockSize: number;
}

export interface MaskedResult {
  /** What [rows, cols], zero off the mask. */
  values: Float64Array;
  mask: Uint8Array;
  fallback?: string;
}

/** The damped H's inverse Cholesky factor (raising the damping when H is singular), or null. */
export function inverseFactor(s: Float64Array, cols: number, dampening: number): Float64Array | null {
  const h = Float64Array.from(s);
  let mean = 0;
  for (let c = 0; c < cols; c++) {
    if (h[c * cols + c] === 0) h[c * cols + c] = 1;
    mean += h[c * cols + c] / cols;
  }
  let damp = dampening;
  for (let attempt = 0; attempt < 5; attempt++, damp = Math.max(10 * damp, 0.01)) {
    const u = upperCholeskyOfInverse(h, cols, damp * mean);
    if (u) return u;
  }
  return null;
}

export function sparseGpt(w: Float64Array, s: Float64Array, rows: number, cols: number, pattern: SparsityPattern, options: SparseGptOptions): MaskedResult {
  const u = inverseFactor(s, cols, options.dampening);
  if (!u) {
    const mask = selectMask(w.map(Math.abs), rows, cols, pattern);
    return { values: w.map((x, i) => (mask[i] ? x : 0)), mask, fallback: 'SparseGPT: H is not positive definite at any damping; used magnitude pruning.' };
  }
  const wk = Float64Array.from(w);
  const mask = new Uint8Array(rows * cols).fill(1);
  const obs = (r: number, c: number) => (wk[r * cols + c] / u[c * cols + c]) ** 2;
  const pruneLowest = (r: number, idx: number[], count: number) => {
    const order = [...idx].sort((a, b) => obs(r, a) - obs(r, b) || b - a);
    for (const c of order.slice(0, count)) mask[r * cols + c] = 0;
  };

  if (pattern.kind === 'columns') {
    const total = new Float64Array(cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) total[c] += obs(r, c);
    const prune = cols - keptPerRow(pattern, cols);
    const order = Array.from({ length: cols }, (_, c) => c).sort((a, b) => total[a] - total[b] || b - a);
    for (const c of order.slice(0, prune)) for (let r = 0; r < rows; r++) mask[r * cols + c] = 0;
  }
  const pruneTotal = cols - keptPerRow(pattern, cols);
  const runs = runsOf(pattern, cols);
  const b = Math.max(1, options.blockSize);
  for (let i1 = 0; i1 < cols; i1 += b) {
    const i2 = Math.min(cols, i1 + b);
    if (pattern.kind === 'unstructured') {
      // Cumulative rounding: blocks prune round(p * i2) - round(p * i1), summing to the row total.
      const count = Math.round((pruneTotal * i2) / cols) - Math.round((pruneTotal * i1) / cols);
      const idx = Array.from({ length: i2 - i1 }, (_, k) => i1 + k);
      for (let r = 0; r < rows; r++) pruneLowest(r, idx, count);
    }
    for (let i = i1; i < i2; i++) {
      if (pattern.kind === 'nm' && runs[runOf(pattern, i)][0] === i) {
        const [s0, e0, keep] = runs[runOf(pattern, i)];
        const idx = Array.from({ length: e0 - s0 }, (_, k) => s0 + k);
        for (let r = 0; r < rows; r++) pruneLowest(r, idx, e0 - s0 - keep);
      }
      const uii = u[i * cols + i];
      for (let r = 0; r < rows; r++) {
        if (mask[r * cols + i]) continue;
        const e = wk[r * cols + i] / uii;
        wk[r * cols + i] = 0;
        if (e === 0) continue;
        const base = r * cols;
        const ui = i * cols;
        for (let j = i + 1; j < cols; j++) wk[base + j] -= e * u[ui + j];
      }
    }
  }
  for (let k = 0; k < wk.length; k++) if (!mask[k]) wk[k] = 0;
  return { values: wk, mask };
}
