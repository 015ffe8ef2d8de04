/**
 * Closed-form weighted least-squares refit of the grid scales given the codes (the zeros stay
 * integers, so 0 stays exactly representable). For row r with codes q and zero z_g per group g,
 * the weight is What_r = sum_g a_g v_g, v_g = (q - z_g) on the columns of group g (0 elsewhere),
 * and the layer objective of the row is the quadratic
 *
 *   f_r(a) = (w - V a)^T S (w - V a) = w^T S w - 2 a^T b + a^T M a,
 *   M_gh = v_g^T S v_h,   b_g = v_g^T S w,         (G x G per row, G = groups)
 *
 * minimized by M a = b. A row takes the new scales only when all are > 0 and f_r falls; a group
 * whose codes are all at its zero (v_g = 0) keeps its scale. Cost: one [out, in] x [in, in] matMul
 * split by groups (V S), plus G^2 per row; W S is computed once by the caller and reused.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Grid } from './types.ts';
import type { DenseProblem } from './problem.ts';

/** W S [rows, cols] (download), reused across refits. */
export function weightTimesSigma(problem: DenseProblem): Float32Array {
  const { rows, cols, w, sigma } = problem;
  const ws = tf.tidy(() => tf.matMul(tf.tensor2d(w, [rows, cols]), sigma));
  const data = ws.dataSync() as Float32Array;
  ws.dispose();
  return data;
}

/** Solves the SPD system m x = b (n x n, float64) by Cholesky; null if not positive definite. */
function solveSpd(m: Float64Array, b: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = m[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] ** 2;
    if (!(d > 0)) return null;
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = m[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / ljj;
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * y[k];
    y[i] = s / l[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
    x[i] = s / l[i * n + i];
  }
  return x;
}

/**
 * Returns a new grid whose scales minimize f given `codes` (rows that would not improve keep
 * theirs), and how many rows changed. `ws` = W S from weightTimesSigma.
 */
export function refitScales(problem: DenseProblem, grid: Grid, codes: Uint8Array, ws: Float32Array): { grid: Grid; rowsChanged: number } {
  const { rows, cols, s } = problem;
  const { groups: G, groupSize, scale, zero } = grid;
  // V [rows, cols]: codes minus their group's zero.
  const v = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) v[r * cols + c] = codes[r * cols + c] - zero[r * G + ((c / groupSize) | 0)];
  const m = new Float64Array(rows * G * G);
  const b = new Float64Array(rows * G);
  for (let h = 0; h < G; h++) {
    const h0 = h * groupSize;
    const hw = Math.min(cols, h0 + groupSize) - h0;
    // V[:, h] S[h, :]  ([rows, hw] x [hw, cols]); S[h, :] is a contiguous run of rows of S.
    const vh = new Float32Array(rows * hw);
    for (let r = 0; r < rows; r++) vh.set(v.subarray(r * cols + h0, r * cols + h0 + hw), r * hw);
    const prod = tf.tidy(() => tf.matMul(tf.tensor2d(vh, [rows, hw]), tf.tensor2d(s.subarray(h0 * cols, (h0 + hw) * cols), [hw, cols])));
    const vs = prod.dataSync();
    prod.dispose();
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < G; g++) {
        const g0 = g * groupSize;
        const g1 = Math.min(cols, g0 + groupSize);
        let acc = 0;
        for (let c = g0; c < g1; c++) acc += v[r * cols + c] * vs[r * cols + c];
        m[(r * G + g) * G + h] = acc;
      }
    }
  }
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < G; g++) {
      const g0 = g * groupSize;
      const g1 = Math.min(cols, g0 + groupSize);
      let acc = 0;
      for (let c = g0; c < g1; c++) acc += v[r * cols + c] * ws[r * cols + c];
      b[r * G + g] = acc;
    }
  }
  const newScale = Float32Array.from(scale);
  let rowsChanged = 0;
  const fOf = (a: ArrayLike<number>, mr: Float64Array, br: Float64Array) => {
    let f = 0;
    for (let g = 0; g < G; g++) {
      f -= 2 * a[g] * br[g];
      for (let h = 0; h < G; h++) f += a[g] * mr[g * G + h] * a[h];
    }
    return f;
  };
  for (let r = 0; r < rows; r++) {
    const mr = m.subarray(r * G * G, (r + 1) * G * G);
    const br = b.subarray(r * G, (r + 1) * G);
    // Groups with v_g = 0 (M_gg = 0) do not enter f_r: solve for the others.
    const live: number[] = [];
    for (let g = 0; g < G; g++) if (mr[g * G + g] > 0) live.push(g);
    if (live.length === 0) continue;
    const n = live.length;
    const ml = new Float64Array(n * n);
    const bl = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      bl[i] = br[live[i]];
      for (let j = 0; j < n; j++) ml[i * n + j] = mr[live[i] * G + live[j]];
    }
    const x = solveSpd(ml, bl, n);
    if (!x || x.some((a) => !(a > 0) || !Number.isFinite(a))) continue;
    const old = Array.from(scale.subarray(r * G, (r + 1) * G));
    const next = old.slice();
    for (let i = 0; i < n; i++) next[live[i]] = Math.fround(x[i]);
    if (fOf(next, mr, br) < fOf(old, mr, br)) {
      for (let g = 0; g < G; g++) newScale[r * G + g] = next[g];
      rowsChanged++;
    }
  }
  return { grid: { ...grid, scale: newScale, zero: Float32Array.from(zero) }, rowsChanged };
}
