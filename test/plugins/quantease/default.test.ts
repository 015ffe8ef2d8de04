/**
 * The default quantizer's steps (issue 12): the clipping search of the grid, the weighted
 * least-squares refit of the scales, the tolerance stop, the never-worse-than-its-GPTQ-start
 * guard, monotone objective across rounded sweeps and refits, and groups with act-order.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { quantizeLayer } from '../../../plugins/quantease/quantize_layer.ts';
import { fitGrid } from '../../../plugins/quantease/grid.ts';
import { fitGridWeighted, clipRatio } from '../../../plugins/quantease/grid_search.ts';
import { refitScales, weightTimesSigma } from '../../../plugins/quantease/refit.ts';
import { readProblemSync } from '../../../plugins/quantease/problem.ts';
import { OptionError } from '../../../plugins/core/errors.ts';
import type { QuantizeLayerOptions } from '../../../plugins/quantease/types.ts';
import { correlatedProblem, tensors, objective64, onGrid, quantizeChecked } from './helpers.ts';

test.before(async () => {
  await tf.setBackend('wasm');
});


const p = correlatedProblem(16, 96, 300, 13, 3);

test('clip search: each row takes the ratio with the least diag(S)-weighted rounding error (brute force in float64)', (t) => {
  const diag = Float64Array.from({ length: p.cols }, (_, j) => p.s[j * p.cols + j]);
  const search = { steps: 9, minRatio: 0.4 };
  const grid = fitGridWeighted(p.w, p.rows, p.cols, { bits: 3, groupSize: 0, symmetric: false }, diag, search);
  const maxq = 7;
  for (let r = 0; r < p.rows; r++) {
    const row = Array.from(p.w.subarray(r * p.cols, (r + 1) * p.cols));
    const lo = Math.min(0, ...row);
    const hi = Math.max(0, ...row);
    const errOf = (scale: number, zero: number) => row.reduce((acc, x, j) => {
      const q = Math.min(maxq, Math.max(0, Math.round(x / scale) + zero));
      return acc + diag[j] * (x - Math.fround((q - zero) * scale)) ** 2;
    }, 0);
    let best = Infinity;
    for (let k = 0; k < search.steps; k++) {
      const c = 1 - (0.6 * k) / 8; // the ratios 1, 0.925, ..., 0.4
      t.true(Math.abs(c - clipRatio(search, k)) < 1e-12);
      const scale = Math.fround(((hi - lo) * c) / maxq);
      best = Math.min(best, errOf(scale, Math.min(maxq, Math.max(0, Math.round((-lo * c) / scale)))));
    }
    t.true(Math.abs(errOf(grid.scale[r], grid.zero[r]) - best) <= 1e-6 * best, `row ${r}`);
  }
  // one step is min/max
  const one = fitGridWeighted(p.w, p.rows, p.cols, { bits: 3, groupSize: 0, symmetric: false }, diag, { steps: 1, minRatio: 0.5 });
  t.deepEqual(one, fitGrid(p.w, p.rows, p.cols, { bits: 3, groupSize: 0, symmetric: false }));
});

test('scale refit: per row, the closed form a = v^T S w / v^T S v (float64), and never a higher objective', (t) => {
  const input = tensors(p);
  const problem = readProblemSync(input);
  const grid = fitGrid(p.w, p.rows, p.cols, { bits: 3, groupSize: 0, symmetric: false });
  const codes = new Uint8Array(p.w.length);
  for (let i = 0; i < codes.length; i++) {
    const r = Math.floor(i / p.cols);
    codes[i] = Math.min(7, Math.max(0, Math.round(p.w[i] / grid.scale[r]) + grid.zero[r]));
  }
  const before = tf.memory().numTensors;
  const { grid: next, rowsChanged } = refitScales(problem, grid, codes, weightTimesSigma(problem));
  t.is(tf.memory().numTensors, before);
  t.true(rowsChanged > 0);
  for (let r = 0; r < p.rows; r++) {
    const v = Array.from({ length: p.cols }, (_, c) => codes[r * p.cols + c] - grid.zero[r]);
    let num = 0;
    let den = 0;
    for (let i = 0; i < p.cols; i++) {
      for (let j = 0; j < p.cols; j++) {
        num += v[i] * p.s[i * p.cols + j] * p.w[r * p.cols + j];
        den += v[i] * p.s[i * p.cols + j] * v[j];
      }
    }
    const a = num / den;
    const f = (s: number) => objective64(p.w.subarray(r * p.cols, (r + 1) * p.cols), v.map((x) => x * s), p.s, 1, p.cols);
    t.true(f(next.scale[r]) <= f(grid.scale[r]) * (1 + 1e-6), `row ${r}`);
    if (next.scale[r] !== grid.scale[r]) t.true(Math.abs(next.scale[r] - a) <= 1e-4 * a, `row ${r}: ${next.scale[r]} vs ${a}`);
  }
  t.deepEqual(next.zero, grid.zero); // zeros stay integers: 0 stays exactly representable
  input.weight.dispose();
  input.sigma.dispose();
});

test('scale refit with groups: the gradient of f in each refitted row\'s group scales is 0', (t) => {
  const input = tensors(p);
  const problem = readProblemSync(input);
  const grid = fitGrid(p.w, p.rows, p.cols, { bits: 4, groupSize: 32, symmetric: false });
  const codes = new Uint8Array(p.w.length);
  const k = (i: number) => Math.floor(i / p.cols) * grid.groups + Math.floor((i % p.cols) / 32);
  for (let i = 0; i < codes.length; i++) codes[i] = Math.min(15, Math.max(0, Math.round(p.w[i] / grid.scale[k(i)]) + grid.zero[k(i)]));
  const { grid: next } = refitScales(problem, grid, codes, weightTimesSigma(problem));
  let checked = 0;
  for (let r = 0; r < p.rows; r++) {
    if (next.scale.subarray(r * 3, r * 3 + 3).every((s, g) => s === grid.scale[r * 3 + g])) continue;
    const v = Array.from({ length: p.cols }, (_, c) => codes[r * p.cols + c] - grid.zero[r * 3 + Math.floor(c / 32)]);
    const d = v.map((x, c) => p.w[r * p.cols + c] - x * next.scale[r * 3 + Math.floor(c / 32)]); // w - What
    for (let g = 0; g < 3; g++) {
      // d f / d a_g = -2 v_g^T S d, relative to |v_g| |S d|
      let grad = 0;
      let scale = 0;
      for (let i = g * 32; i < (g + 1) * 32; i++) {
        let sd = 0;
        for (let j = 0; j < p.cols; j++) sd += p.s[i * p.cols + j] * d[j];
        grad += v[i] * sd;
        scale += Math.abs(v[i] * sd);
      }
      t.true(Math.abs(grad) <= 1e-3 * scale + 1e-9, `row ${r} group ${g}: ${grad} of ${scale}`);
    }
    checked++;
  }
  t.true(checked > 0);
  input.weight.dispose();
  input.sigma.dispose();
});

test.serial('the objective never rises across rounded sweeps and refits (all sweeps rounded from the GPTQ start)', async (t) => {
  for (const groupSize of [0, 32]) {
    const q = await quantizeChecked(t, p, { bits: 3, groupSize, sweeps: 8, unroundedSweepEvery: 0, refit: 3, refitSweeps: 2, tolerance: 0 });
    const h = q.stats.history!;
    t.is(h.length, 8 + 3 * 2 - (q.stats.iterations < 14 ? 14 - q.stats.iterations : 0));
    t.true(h[0] <= q.stats.objectiveBefore * (1 + 1e-5)); // from GPTQ's point
    for (let i = 1; i < h.length; i++) t.true(h[i] <= h[i - 1] * (1 + 1e-5) + 1e-9, `groupSize ${groupSize}: history[${i}] = ${h[i]} > ${h[i - 1]}`);
    t.true(Math.abs(h[h.length - 1] - q.stats.objectiveAfter) <= 1e-3 * q.stats.objectiveAfter);
  }
});

test.serial('tolerance stops the sweeps early; 0 runs them all', async (t) => {
  const all = await quantizeChecked(t, p, { bits: 3, sweeps: 20, unroundedSweepEvery: 0, refit: 0, tolerance: 0 });
  t.is(all.stats.iterations, 20);
  const early = await quantizeChecked(t, p, { bits: 3, sweeps: 20, unroundedSweepEvery: 0, refit: 0, tolerance: 0.5 });
  t.is(early.stats.iterations, 2); // the second rounded sweep cannot lower f by half
  t.true(early.stats.relativeError >= all.stats.relativeError * (1 - 1e-6));
});

test.serial('the default is never worse than act-order GPTQ (min/max or clipped grid), with groups (static) and on the grid', async (t) => {
  const wide = correlatedProblem(12, 256, 300, 17, 3);
  for (const [prob, groupSize] of [[p, 0], [p, 32], [wide, 128]] as const) {
    for (const bits of [2, 3, 4]) {
      const d = await quantizeChecked(t, prob, { bits, groupSize, sweeps: 10 });
      const g = await quantizeChecked(t, prob, { method: 'gptq', actOrder: true, clip: {}, bits, groupSize });
      const plain = await quantizeChecked(t, prob, { method: 'gptq', actOrder: true, bits, groupSize });
      t.true(d.stats.relativeError <= plain.stats.relativeError * (1 + 1e-4), `bits ${bits} groupSize ${groupSize}: ${d.stats.relativeError} vs GPTQ ${plain.stats.relativeError}`);
      t.true(onGrid(d.values, d.codes, d.grid, prob.cols), `bits ${bits} groupSize ${groupSize}`);
      t.is(d.grid.groups, Math.ceil(prob.cols / (groupSize || prob.cols)));
      t.true(d.stats.relativeError <= g.stats.relativeError * (1 + 1e-4), `bits ${bits} groupSize ${groupSize}: ${d.stats.relativeError} vs GPTQ ${g.stats.relativeError}`);
      const rel = objective64(prob.w, d.values, prob.s, prob.rows, prob.cols) / objective64(prob.w, new Float32Array(prob.w.length), prob.s, prob.rows, prob.cols);
      t.true(Math.abs(rel - d.stats.relativeError) <= 1e-3 * rel + 1e-7);
    }
  }
});

test.serial('the default with outliers and groups: on the grid plus exactly k outliers, better than without', async (t) => {
  const without = await quantizeChecked(t, p, { bits: 3, groupSize: 32, sweeps: 10 });
  const q = await quantizeChecked(t, p, { bits: 3, groupSize: 32, sweeps: 10, outliers: { fraction: 0.02 } });
  t.is(q.outliers!.indices.length, Math.round(0.02 * p.rows * p.cols));
  t.true(onGrid(q.values, q.codes, q.grid, p.cols, new Set(q.outliers!.indices)));
  t.true(q.stats.relativeError < without.stats.relativeError, `${q.stats.relativeError} vs ${without.stats.relativeError}`);
});

const bad: [unknown, RegExp][] = [
  [{ clip: 0.5 }, /`clip` must be false or an object \{steps, minRatio\}/],
  [{ clip: { minRatio: 0 } }, /`clip.minRatio` must be a finite number > 0 and <= 1/],
  [{ clip: { steps: 0 } }, /`clip.steps` must be an integer in 1\.\.1000/],
  [{ clip: { ratio: 1 } }, /Unknown option `ratio` for quantizeLayer `clip`/],
  [{ tolerance: -1 }, /`tolerance` must be a finite number >= 0 and <= 1/],
  [{ refit: 1.5 }, /`refit` must be an integer in 0\.\.1000/],
  [{ refitSweeps: 0 }, /`refitSweeps` must be an integer in 1\.\.100000/],
  [{ init: 'gptq', outliers: {} }, /cannot be combined with `outliers`/],
];
for (const [options, message] of bad) {
  test(`rejects ${JSON.stringify(options)}`, async (t) => {
    const weight = tf.tensor2d([[1, 2], [3, 4]]);
    const sigma = tf.eye(2);
    await t.throwsAsync(quantizeLayer({ weight, sigma }, options as QuantizeLayerOptions), { instanceOf: OptionError, message });
    tf.dispose([weight, sigma]);
  });
}
