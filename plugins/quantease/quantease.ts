/**
 * QuantEase (Behdin, Acharya, Gupta, Song, Zhu, Mazumder, "QuantEase: Optimization-based
 * Quantization for Language Models", 2023, Algorithm 1): cyclic coordinate descent on
 *
 *   f(What) = tr((T - What) S (T - What)^T),   T = W (or W - H with outliers),
 *
 * one column at a time, all rows at once, with the exact 1-D minimizer over the grid:
 *
 *   What_j <- q(What_j + P[:, j] / S_jj),   P = (T - What) S   [out, in]
 *   (S_jj = 0: column j does not enter f; it is rounded, What_j <- q(T_j)).
 *
 * A rounded sweep never raises f. The authors leave some early sweeps unrounded (sweep k,
 * 0-based, with k % unroundedSweepEvery == 0 and k < unroundedUntil; the last sweep is always
 * rounded so the result is on the grid).
 *
 * Blocked implementation. We keep P^T = S (T - What)^T [in, out] on the backend (What and T
 * are held transposed too, so a column is contiguous). For a block B of `blockSize` columns,
 * the sequential column-by-column work runs in sub-blocks of QUANTEASE_INNER_BLOCK
 * columns, in a WebAssembly SIMD kernel or its JS twin (kernels/inner_sweep*.ts, same bits):
 * each column is one pass over the rows that first adds the rank-1 terms dD_i S[i, j] of the
 * earlier columns of the sub-block that moved. Each sub-block first receives the changes of the
 * earlier sub-blocks of B with one small matMul S[sub, B<] dD_B<^T (left-looking). After the
 * block, one matMul brings all of P up to date:
 *
 *   P^T <- P^T + S[:, B] dD_B^T        ([in, |B|] x [|B|, out]; dD = change of T - What)
 *
 * so the 2 * out * in^2 flops of a sweep go through tfjs matMul (untransposed operands: S is
 * symmetric, so S[:, B] is sliced once). Blocks where nothing moved skip the matMul.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Grid } from './types.ts';
import { codesOf } from './grid.ts';
import { createInnerSweeper, type InnerSweeper, type KernelChoice } from './kernels/inner_sweep.ts';
import { readRange } from './kernels/read_rows.ts';

/** Columns per sequential (typed-array) sub-block inside a `blockSize` block; tuned on wasm. */
export const QUANTEASE_INNER_BLOCK = 32;

interface SubBlock {
  /** Offset inside the outer block and width. */
  offset: number;
  width: number;
  /** S[sub, sub], row-major float64. */
  sBB: Float64Array;
  /** S[sub, B before sub] [width, offset] (owned; null for the first sub-block). */
  sLeft: tf.Tensor2D | null;
}

/** State of the coordinate descent, shared with the outlier-aware variant. */
export interface SweepContext {
  rows: number;
  cols: number;
  blockSize: number;
  grid: Grid;
  /** Target T^T [cols, rows] (transposed: a column of W is contiguous); see setTarget. */
  targetT: Float32Array;
  /** Current What^T [cols, rows], updated in place; see currentWhat. */
  whatT: Float32Array;
  /** The sequential column-by-column work (WebAssembly kernel or its JS twin; kernels/). */
  sweeper: InnerSweeper;
  /** Host copy of P^T [cols, rows] (block ranges are read into it) and of a left-looking product. */
  ptHost: Float32Array;
  leftHost: Float32Array;
  /** Change of (T - What)^T in the current block, float32 [blockSize, rows] (every entry is rewritten). */
  dBlock: Float32Array;
  /** S as a tensor [cols, cols] (not owned). */
  sigma: tf.Tensor2D;
  /** S[:, B] for each block, [cols, |B|] (owned). */
  sColumns: tf.Tensor2D[];
  /** Sub-blocks of each block. */
  inner: SubBlock[][];
  /** P^T = S (T - What)^T [cols, rows] (owned). */
  pt: tf.Tensor2D;
}

/** Builds the context and P^T for the given target and start point (both copied). */
export function createSweepContext(
  s: Float32Array, sigma: tf.Tensor2D, rows: number, cols: number, grid: Grid, blockSize: number,
  target: Float32Array, start: Float32Array,
): SweepContext {
  const b = Math.max(1, Math.min(blockSize, cols));
  const sColumns: tf.Tensor2D[] = [];
  const inner: SubBlock[][] = [];
  for (let c0 = 0; c0 < cols; c0 += b) {
    const bw = Math.min(b, cols - c0);
    const sCols = sigmaBlock(s, cols, 0, cols, c0, bw);
    sColumns.push(sCols);
    const subs: SubBlock[] = [];
    for (let o = 0; o < bw; o += QUANTEASE_INNER_BLOCK) {
      const sw = Math.min(QUANTEASE_INNER_BLOCK, bw - o);
      const sBB = new Float64Array(sw * sw);
      for (let i = 0; i < sw; i++) for (let j = 0; j < sw; j++) sBB[i * sw + j] = s[(c0 + o + i) * cols + c0 + o + j];
      const sLeft = o > 0 ? sigmaBlock(s, cols, c0 + o, sw, c0, o) : null;
      subs.push({ offset: o, width: sw, sBB, sLeft });
    }
    inner.push(subs);
  }
  const ctx: SweepContext = {
    rows, cols, blockSize: b, grid, targetT: transpose(target, rows, cols), whatT: transpose(start, rows, cols),
    sweeper: createInnerSweeper(grid, QUANTEASE_INNER_BLOCK), ptHost: new Float32Array(cols * rows),
    leftHost: new Float32Array(QUANTEASE_INNER_BLOCK * rows), dBlock: new Float32Array(b * rows), sigma, sColumns, inner, pt: tf.zeros([cols, rows]),
  };
  refreshResidual(ctx);
  return ctx;
}

/**
 * The block S[r0 : r0 + nr, c0 : c0 + nc] as a tensor, copied from the JS copy of S. Not tf.slice:
 * the wasm backend's Slice reads the whole input into JS first (340 MB per call for in = 9216).
 */
function sigmaBlock(s: Float32Array, n: number, r0: number, nr: number, c0: number, nc: number): tf.Tensor2D {
  const out = new Float32Array(nr * nc);
  for (let i = 0; i < nr; i++) out.set(s.subarray((r0 + i) * n + c0, (r0 + i) * n + c0 + nc), i * nc);
  return tf.tensor2d(out, [nr, nc]);
}

/** a [rows, cols] -> a^T [cols, rows] (row-major both). */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

/** Replaces the target with T [rows, cols] (call refreshResidual afterwards). */
export function setTarget(ctx: SweepContext, target: Float32Array): void {
  ctx.targetT = transpose(target, ctx.rows, ctx.cols);
}

/** What [rows, cols], a copy. */
export function currentWhat(ctx: SweepContext): Float32Array {
  return transpose(ctx.whatT, ctx.cols, ctx.rows);
}

/** Recomputes P^T = S (T - What)^T from scratch (after the target changed). */
export function refreshResidual(ctx: SweepContext): void {
  const { rows, cols, targetT, whatT } = ctx;
  const dt = new Float32Array(cols * rows); // (T - What)^T, [cols, rows]
  for (let i = 0; i < dt.length; i++) dt[i] = targetT[i] - whatT[i];
  const next = tf.tidy(() => tf.matMul(ctx.sigma, tf.tensor2d(dt, [cols, rows]))) as tf.Tensor2D;
  ctx.pt.dispose();
  ctx.pt = next;
}

/** f = sum(D ⊙ P) with D = T - What, from the maintained P (float64 sum). */
export function residualObjective(ctx: SweepContext): number {
  const { targetT, whatT } = ctx;
  const pt = readRange(ctx.pt, 0, ctx.pt.size, ctx.ptHost);
  let f = 0;
  for (let i = 0; i < pt.length; i++) f += (targetT[i] - whatT[i]) * pt[i];
  return f;
}

/**
 * The sequential part: columns c0..c0+sw-1, all rows, in the transposed layout (a column is
 * contiguous), run by ctx.sweeper (kernels/inner_sweep_js.ts has the math). `pb` is
 * P[:, sub]^T [sw, rows] at the block start and `left` the earlier sub-blocks' part of it
 * (S[sub, B before sub] dD^T, or null); writes the change of T - What into dT [sw, rows].
 * Returns entries moved.
 */
function innerSweep(ctx: SweepContext, c0: number, sw: number, pb: Float32Array, left: Float32Array | null, sBB: Float64Array, dT: Float32Array, rounded: boolean): number {
  const what = ctx.whatT.subarray(c0 * ctx.rows, (c0 + sw) * ctx.rows);
  const target = ctx.targetT.subarray(c0 * ctx.rows, (c0 + sw) * ctx.rows);
  return ctx.sweeper.run({ sw, c0, rounded, what, target, pb, left, sBB, dT });
}

/** a [m, k] (tensor) times b [k, n] (typed array), read into dst: one untransposed matMul. */
function matMulData(a: tf.Tensor2D, b: Float32Array, k: number, n: number, dst: Float32Array): Float32Array {
  const bt = tf.tensor2d(b, [k, n]);
  const c = tf.matMul(a, bt);
  const data = readRange(c, 0, c.size, dst).subarray(0, c.size);
  bt.dispose();
  c.dispose();
  return data;
}

/** One sweep over all columns; `rounded` false leaves What_j unrounded. Returns entries moved. */
export function sweep(ctx: SweepContext, rounded: boolean): number {
  const { rows, cols, blockSize: b } = ctx;
  let moved = 0;
  for (let blk = 0, c0 = 0; c0 < cols; blk++, c0 += b) {
    const bw = Math.min(b, cols - c0);
    const subs = ctx.inner[blk];
    // P[:, B]^T at the block start: a contiguous range of P^T
    const pBData = readRange(ctx.pt, c0 * rows, (c0 + bw) * rows, ctx.ptHost.subarray(c0 * rows, (c0 + bw) * rows));
    const dTB = ctx.dBlock.subarray(0, bw * rows); // dD_B^T [bw, rows]
    let movedB = 0;
    for (const { offset: o, width: sw, sBB, sLeft } of subs) {
      // Left-looking: P[:, sub]^T = (block start) + S[sub, B before sub] dD^T of the earlier sub-blocks.
      const pb = pBData.subarray(o * rows, (o + sw) * rows);
      const left = sLeft && movedB > 0 ? matMulData(sLeft, dTB.subarray(0, o * rows), o, rows, ctx.leftHost) : null;
      movedB += innerSweep(ctx, c0 + o, sw, pb, left, sBB, dTB.subarray(o * rows, (o + sw) * rows), rounded);
    }
    if (movedB > 0) {
      // P^T += S[:, B] dD_B^T   ([cols, bw] x [bw, rows])
      const next = tf.tidy(() => tf.add(ctx.pt, tf.matMul(ctx.sColumns[blk], tf.tensor2d(dTB, [bw, rows])))) as tf.Tensor2D;
      ctx.pt.dispose();
      ctx.pt = next;
    }
    moved += movedB;
  }
  return moved;
}

export function disposeContext(ctx: SweepContext): void {
  ctx.pt.dispose();
  for (const t of ctx.sColumns) t.dispose();
  for (const subs of ctx.inner) for (const sb of subs) sb.sLeft?.dispose();
  ctx.sColumns = [];
  ctx.inner = [];
}

/** Whether sweep k (0-based) of `sweeps` is rounded under the authors' schedule. */
export function isRoundedSweep(k: number, sweeps: number, every: number, until: number): boolean {
  if (k === sweeps - 1) return true;
  return !(every > 0 && k % every === 0 && k < until);
}

export interface QuantEaseOptions {
  /** Default 30. */
  sweeps: number;
  /** Default 3 (0 = every sweep rounded). */
  unroundedSweepEvery: number;
  /** Default 25. */
  unroundedUntil: number;
  /** Column block. Default 128. */
  blockSize: number;
  /** The in-block kernel: 'auto' (default; WebAssembly SIMD where it loads), 'wasm' or 'js'. Same results. */
  kernel?: KernelChoice;
  onProgress?: (done: number, total: number) => void;
}

export interface QuantEaseResult {
  codes: Uint8Array;
  values: Float32Array;
  /** f after each rounded sweep. */
  history: number[];
  sweeps: number;
}

/**
 * QuantEase of w [rows, cols] against S, starting at `start` (W itself by default, or e.g.
 * GPTQ's solution); the target is always W.
 */
export function quantEase(
  w: Float32Array, s: Float32Array, sigma: tf.Tensor2D, rows: number, cols: number, grid: Grid,
  options: QuantEaseOptions, start?: Float32Array,
): QuantEaseResult {
  const ctx = createSweepContext(s, sigma, rows, cols, grid, options.blockSize, w, start ?? w);
  if (options.kernel) ctx.sweeper = createInnerSweeper(grid, QUANTEASE_INNER_BLOCK, options.kernel);
  const history: number[] = [];
  try {
    for (let k = 0; k < options.sweeps; k++) {
      const rounded = isRoundedSweep(k, options.sweeps, options.unroundedSweepEvery, options.unroundedUntil);
      sweep(ctx, rounded);
      if (rounded) history.push(residualObjective(ctx));
      options.onProgress?.(k + 1, options.sweeps);
    }
    const values = currentWhat(ctx);
    return { codes: codesOf(values, grid, cols), values, history, sweeps: options.sweeps };
  } finally {
    disposeContext(ctx);
  }
}
