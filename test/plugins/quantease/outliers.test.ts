import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type { QuantizedLayer } from '../../../plugins/quantease/types.ts';
import { correlatedProblem, onGrid, rtnClosedForm, quantizeChecked } from './helpers.ts';

test.before(async () => {
  await tf.setBackend('wasm');
});


/** The packed format's dequantization: (q - zero) * scale, plus the value at each outlier. */
function dequantizeFormat(q: QuantizedLayer, cols: number): Float32Array {
  const out = new Float32Array(q.codes.length);
  for (let i = 0; i < out.length; i++) {
    const k = Math.floor(i / cols) * q.grid.groups + Math.floor((i % cols) / q.grid.groupSize);
    out[i] = (q.codes[i] - q.grid.zero[k]) * q.grid.scale[k];
  }
  q.outliers?.indices.forEach((idx, m) => { out[idx] = Math.fround(out[idx] + q.outliers!.values[m]); });
  return out;
}

test.serial('outliers with S = 0 (every input dead): finite, H = the k largest |W|, the rest rounded', async (t) => {
  const p = correlatedProblem(12, 20, 50, 3);
  const zero = { ...p, s: new Float32Array(p.cols * p.cols) };
  const q = await quantizeChecked(t, zero, { method: 'quantease', bits: 3, sweeps: 4, outliers: { fraction: 0.05 } });
  t.true(q.values.every(Number.isFinite));
  t.is(q.stats.relativeError, 0); // 0 / 0 is 0 by definition
  t.is(q.stats.baseline, 0);
  const k = Math.round(0.05 * p.rows * p.cols);
  t.is(q.outliers!.indices.length, k);
  // f does not depend on H when S = 0: H stays the start, W at the k largest |W|, and every other
  // entry is W rounded on the grid fitted without them.
  const mags = Array.from(p.w, (x, i) => [Math.abs(x), i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const expected = mags.slice(0, k).map((m) => m[1]).sort((a, b) => a - b);
  t.deepEqual(Array.from(q.outliers!.indices), expected);
  for (const [m, i] of q.outliers!.indices.entries()) t.is(q.outliers!.values[m], p.w[i]);
  t.deepEqual(Array.from(dequantizeFormat(q, p.cols)), Array.from(q.values));
});

test.serial('outliers with a partly dead S (some inputs never active) stay finite and beat plain QuantEase', async (t) => {
  const p = correlatedProblem(16, 24, 80, 5);
  const s = Float32Array.from(p.s);
  for (const dead of [2, 9]) for (let j = 0; j < p.cols; j++) s[dead * p.cols + j] = s[j * p.cols + dead] = 0;
  const plain = await quantizeChecked(t, { ...p, s }, { method: 'quantease', bits: 3, sweeps: 6, init: 'weights', clip: false, refit: 0 });
  const q = await quantizeChecked(t, { ...p, s }, { method: 'quantease', bits: 3, sweeps: 6, outliers: { fraction: 0.02 } });
  t.true(q.values.every(Number.isFinite));
  t.true(q.stats.relativeError < plain.stats.relativeError);
});

test.serial('the packed format dequantization reproduces the weight, with outliers and groups', async (t) => {
  const p = correlatedProblem(10, 40, 120, 9);
  for (const options of [
    { bits: 3, sweeps: 5, outliers: { fraction: 0.02 }, groupSize: 16 },
    { bits: 4, sweeps: 5, outliers: { fraction: 0.05, structured: true } },
  ]) {
    const q = await quantizeChecked(t, p, options);
    const skip = new Set(q.outliers!.indices);
    t.true(onGrid(q.values, q.codes, q.grid, p.cols, skip));
    t.deepEqual(Array.from(dequantizeFormat(q, p.cols)), Array.from(q.values));
  }
});

test.serial('a zero S without outliers rounds (QuantEase equals RTN)', async (t) => {
  const p = correlatedProblem(8, 16, 40, 4);
  const q = await quantizeChecked(t, { ...p, s: new Float32Array(p.cols * p.cols) }, { method: 'quantease', bits: 3, sweeps: 3, clip: false, refit: 0 });
  t.deepEqual(Array.from(q.values), Array.from(rtnClosedForm(p.w, p.rows, p.cols, 3)));
});
