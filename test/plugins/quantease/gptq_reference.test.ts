/**
 * GPTQ against an independent float64 reference written here: the optimal-brain-surgeon form of
 * the paper (Frantar et al. 2023, eq. 2-3), unblocked, with an explicit inverse Hessian that is
 * updated by Gaussian elimination after each column instead of the library's Cholesky factor of
 * H^-1 and lazy block updates:
 *
 *   H = S + lambda I (dead inputs: H_ii = 1, w_i = 0),  lambda = 0.01 mean(diag H)
 *   for each column i in order (natural or by decreasing diag S):
 *     q_i = quant(w_i);  w_F -= (w_i - q_i) / [H_F^-1]_ii * [H_F^-1]_{i, F}
 *     H_F^-1 <- H_F^-1 - [H_F^-1]_{:, i} [H_F^-1]_{i, :} / [H_F^-1]_ii,  F <- F \ {i}
 *
 * Mathematically both give the same result at every block size; in floating point a weight near
 * a rounding boundary can flip, so we allow a few codes to differ and compare the objective.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { quantizeLayer } from '../../../plugins/quantease/quantize_layer.ts';
import type { Grid, QuantizedLayer } from '../../../plugins/quantease/types.ts';
import { correlatedProblem, tensors, objective64, noLeak, type TestProblem } from './helpers.ts';

test.before(async () => {
  await tf.setBackend('wasm');
});

/** Gauss-Jordan inverse of a symmetric positive definite [n, n] float64 matrix. */
function inverse64(a: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    const p = m[c * n + c];
    for (let j = 0; j < n; j++) { m[c * n + j] /= p; inv[c * n + j] /= p; }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r * n + c];
      if (f === 0) continue;
      for (let j = 0; j < n; j++) { m[r * n + j] -= f * m[c * n + j]; inv[r * n + j] -= f * inv[c * n + j]; }
    }
  }
  return inv;
}

function referenceGptq(p: TestProblem, grid: Grid, actOrder: boolean, dampening = 0.01): Float64Array {
  const { rows, cols: n, s } = p;
  const h = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) h[i] = s[i];
  const dead: boolean[] = [];
  for (let i = 0; i < n; i++) {
    dead.push(h[i * n + i] === 0);
    if (dead[i]) h[i * n + i] = 1;
  }
  let mean = 0;
  for (let i = 0; i < n; i++) mean += h[i * n + i] / n;
  for (let i = 0; i < n; i++) h[i * n + i] += dampening * mean;
  const order = Array.from({ length: n }, (_, i) => i);
  if (actOrder) order.sort((a, b) => h[b * n + b] - h[a * n + a] || a - b); // same order as diag S (the damping is uniform)
  const maxq = 2 ** grid.bits - 1;
  const out = new Float64Array(rows * n);
  const w = Array.from({ length: rows }, (_, r) => Array.from({ length: n }, (_, c) => (dead[c] ? 0 : p.w[r * n + c])));
  const hinv = inverse64(h, n); // the same for every row: update it once per column
  for (const i of order) {
    const d = hinv[i * n + i];
    for (let r = 0; r < rows; r++) {
      const g = r * grid.groups + Math.floor(i / grid.groupSize); // static groups: by original column
      const q = Math.min(maxq, Math.max(0, Math.round(w[r][i] / grid.scale[g]) + grid.zero[g]));
      const v = Math.fround((q - grid.zero[g]) * grid.scale[g]);
      out[r * n + i] = v;
      const e = (w[r][i] - v) / d;
      for (let j = 0; j < n; j++) if (j !== i) w[r][j] -= e * hinv[i * n + j];
      w[r][i] = v;
    }
    // remove i from the inverse (the inverse of the Hessian of the columns still free)
    const col = Array.from({ length: n }, (_, a) => hinv[a * n + i]);
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) hinv[a * n + b] -= (col[a] * col[b]) / d;
    hinv[i * n + i] = 1; // row and column i are 0 now; keeps the matrix invertible, never read again
  }
  return out;
}

const problem = correlatedProblem(10, 150, 400, 71, 3);
// one dead input (a feature that is always 0: its row and column of S are 0)
for (let j = 0; j < problem.cols; j++) problem.s[17 * problem.cols + j] = problem.s[j * problem.cols + 17] = 0;

for (const actOrder of [false, true]) {
  for (const blockSize of [16, 128]) {
    for (const groupSize of [0, 32]) {
      test.serial(`GPTQ equals the float64 reference: blockSize ${blockSize}, actOrder ${actOrder}, groupSize ${groupSize}`, async (t) => {
        const input = tensors(problem);
        const q = await noLeak(t, () => quantizeLayer(input, { method: 'gptq', bits: 3, blockSize, actOrder, groupSize }), (r: QuantizedLayer) => {
          (r as QuantizedLayer & { values?: Float32Array }).values = r.weight.dataSync() as Float32Array;
          r.weight.dispose();
        }) as QuantizedLayer & { values: Float32Array };
        input.weight.dispose();
        input.sigma.dispose();
        const ref = referenceGptq(problem, q.grid, actOrder);
        let differ = 0;
        for (let i = 0; i < ref.length; i++) if (ref[i] !== q.values[i]) differ++;
        const fq = objective64(problem.w, q.values, problem.s, problem.rows, problem.cols);
        const fr = objective64(problem.w, ref, problem.s, problem.rows, problem.cols);
        t.log(`differing entries ${differ} of ${ref.length}; f ${fq.toPrecision(6)} vs reference ${fr.toPrecision(6)}`);
        t.true(differ <= 0.002 * ref.length, `${differ} entries differ`);
        t.true(Math.abs(fq - fr) <= 2e-3 * fr, `f ${fq} vs ${fr}`);
        // the dead input is zeroed before quantization, and 0 is on every grid
        for (let r = 0; r < problem.rows; r++) t.is(q.values[r * problem.cols + 17], 0);
      });
    }
  }
}
