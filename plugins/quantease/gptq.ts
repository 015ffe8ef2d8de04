/**
 * GPTQ (Frantar, Ashkboos, Hoefler, Alistarh, "GPTQ: Accurate Post-Training Quantization for
 * Generative Pre-trained Transformers", ICLR 2023, Algorithm 1):
 *
 *   H = 2 S / n + lambda I,   lambda = dampening * mean(diag H)      (the 2 / n scale cancels:
 *                                                                     we use H = S, same result)
 *   U = Cholesky(H^-1)^T (upper),  for each column i (left to right, or by decreasing diag H
 *   with act-order):
 *     q_i   = q(w_i)                      on the grid fitted once on W
 *     e_i   = (w_i - q_i) / U_ii
 *     w_j  -= e_i U_ij   for j > i        (inside a block of `blockSize` columns: column by
 *                                          column; after the block, one matMul E_B U[B, rest])
 *
 * Dead inputs (H_ii = 0) get H_ii = 1 and w_i = 0, as in the paper's code. If the Cholesky
 * factorization fails the damping is raised (x10, at least 0.01) up to `maxRetries` times, then
 * the layer falls back to RTN and says so in `fallback`: never a crash. The float64 factorization
 * runs in JS (tfjs has no Cholesky); the block updates are tfjs matMuls.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Grid } from './types.ts';
import { quantizeAll } from './grid.ts';
import { upperCholeskyOfInverse } from './cholesky.ts';
import { createGptqBlockRunner } from './kernels/gptq_block.ts';

export interface GptqOptions {
  /** Fraction of mean(diag H) added to the diagonal. Default 0.01. */
  dampening: number;
  /** Lazy-update block. Default 128. */
  blockSize: number;
  /** Visit columns by decreasing diag H. Default false. */
  actOrder: boolean;
  /** Damping increases before falling back to RTN. Default 4. */
  maxRetries?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface GptqResult {
  codes: Uint8Array;
  values: Float32Array;
  /** Damping actually used (fraction of mean diag H); NaN on fallback. */
  dampeningUsed: number;
  fallback?: string;
}

/** GPTQ of w [rows, cols] against s [cols, cols] on a fixed grid. */
export function gptq(w: Float32Array, s: Float32Array, rows: number, cols: number, grid: Grid, options: GptqOptions): GptqResult {
  const n = cols;
  const diag = new Float64Array(n);
  for (let j = 0; j < n; j++) diag[j] = s[j * n + j];
  const dead = new Uint8Array(n);
  for (let j = 0; j < n; j++) if (diag[j] === 0) { dead[j] = 1; diag[j] = 1; }

  // perm[a] = original column visited a-th.
  const perm = Array.from({ length: n }, (_, j) => j);
  if (options.actOrder) perm.sort((a, b) => diag[b] - diag[a] || a - b);

  const h = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    const ra = perm[a] * n;
    for (let b = 0; b < n; b++) h[a * n + b] = s[ra + perm[b]];
    h[a * n + a] = diag[perm[a]];
  }
  let meanDiag = 0;
  for (let j = 0; j < n; j++) meanDiag += diag[j] / n;

  let u: Float64Array | null = null;
  let damp = options.dampening;
  const retries = options.maxRetries ?? 4;
  if (Number.isFinite(meanDiag) && meanDiag > 0) {
    for (let attempt = 0; attempt <= retries && !u; attempt++) {
      if (attempt > 0) damp = Math.max(10 * damp, 0.01);
      u = upperCholeskyOfInverse(h, n, damp * meanDiag);
    }
  }
  if (!u) {
    const { codes, values } = quantizeAll(w, grid, cols);
    return {
      codes,
      values,
      dampeningUsed: NaN,
      fallback: `GPTQ: Cholesky factorization of H failed (mean diag H = ${meanDiag}, last dampening ${damp}); used RTN instead.`,
    };
  }

  // Working copy in visiting order, [rows, n]; dead inputs zeroed.
  const wk = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let a = 0; a < n; a++) wk[r * n + a] = dead[perm[a]] ? 0 : w[r * n + perm[a]];
  }
  const codes = new Uint8Array(rows * n);
  const values = new Float32Array(rows * n);
  const b = Math.max(1, Math.min(options.blockSize, n));
  // The sequential in-block work: WebAssembly SIMD kernel or its JS twin (kernels/gptq_block*.ts, same bits).
  const runner = createGptqBlockRunner(grid, b);
  const wkB = new Float64Array(rows * b); // W[:, B] in visiting order [rows, bw]
  const uB = new Float64Array(b * b); // U[B, B]
  const colGroup = new Int32Array(b);
  const codesB = new Uint8Array(rows * b);
  const valuesB = new Float32Array(rows * b);

  for (let i1 = 0; i1 < n; i1 += b) {
    const i2 = Math.min(n, i1 + b);
    const bw = i2 - i1;
    const err = new Float32Array(rows * bw); // [rows, bw]
    for (let r = 0; r < rows; r++) wkB.set(wk.subarray(r * n + i1, r * n + i2), r * bw);
    for (let i = 0; i < bw; i++) {
      uB.set(u.subarray((i1 + i) * n + i1, (i1 + i) * n + i2), i * bw);
      colGroup[i] = (perm[i1 + i] / grid.groupSize) | 0;
    }
    runner.run({ bw, wk: wkB, u: uB, colGroup, codes: codesB, values: valuesB, err });
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < bw; i++) {
        codes[r * n + perm[i1 + i]] = codesB[r * bw + i];
        values[r * n + perm[i1 + i]] = valuesB[r * bw + i];
      }
    }
    if (i2 < n) {
      // W[:, i2:] -= E_B U[B, i2:]   ([rows, bw] x [bw, n - i2]) on the backend.
      const rest = n - i2;
      const uTail = new Float32Array(bw * rest);
      for (let i = 0; i < bw; i++) {
        const src = (i1 + i) * n + i2;
        for (let j = 0; j < rest; j++) uTail[i * rest + j] = u[src + j];
      }
      const prod = tf.tidy(() => tf.matMul(tf.tensor2d(err, [rows, bw]), tf.tensor2d(uTail, [bw, rest])));
      const upd = prod.dataSync();
      prod.dispose();
      for (let r = 0; r < rows; r++) {
        const base = r * n + i2;
        const ub = r * rest;
        for (let j = 0; j < rest; j++) wk[base + j] -= upd[ub + j];
      }
    }
    options.onProgress?.(i2, n);
  }
  return { codes, values, dampeningUsed: damp };
}
