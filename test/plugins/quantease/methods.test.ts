import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { quantizeLayer } from '../../../plugins/quantease/quantize_layer.ts';
import type { QuantizeLayerOptions, Grid } from '../../../plugins/quantease/types.ts';
import { correlatedProblem, objective64, rtnClosedForm, onGrid, rng, gaussian, type TestProblem, quantizeChecked } from './helpers.ts';

test.before(async () => {
  await tf.setBackend('wasm');
});

/** quantizeLayer with a leak check; returns the result with its weight values read and disposed. */

const small = correlatedProblem(24, 40, 160, 11);
/** Plain QuantEase of the first release (the default adds a GPTQ start, a clipped grid and refits). */
const PLAIN = { init: 'weights', actOrder: false, clip: false, refit: 0, tolerance: 0 } as const;

test.serial('RTN equals the closed form; every method returns weights on the grid', async (t) => {
  const r = await quantizeChecked(t, small, { method: 'rtn', bits: 3 });
  t.deepEqual(Array.from(r.values), Array.from(rtnClosedForm(small.w, small.rows, small.cols, 3)));
  t.true(onGrid(r.values, r.codes, r.grid, small.cols));
  t.is(r.stats.objectiveBefore, r.stats.objectiveAfter);
  for (const options of [
    { method: 'gptq', bits: 3 },
    { method: 'gptq', bits: 2, actOrder: true, groupSize: 16, symmetric: true },
    { method: 'quantease', bits: 3, sweeps: 5 },
    { method: 'quantease', bits: 4, sweeps: 4, groupSize: 12, init: 'gptq' },
  ] as QuantizeLayerOptions[]) {
    const q = await quantizeChecked(t, small, options);
    t.true(onGrid(q.values, q.codes, q.grid, small.cols), JSON.stringify(options));
    const rel = objective64(small.w, q.values, small.s, small.rows, small.cols) / objective64(small.w, new Float32Array(small.w.length), small.s, small.rows, small.cols);
    t.true(Math.abs(rel - q.stats.relativeError) <= 1e-3 * rel + 1e-7, `relative error ${rel} vs ${q.stats.relativeError}`);
  }
});

test.serial('a diagonal S makes QuantEase equal RTN (with and without the unrounded schedule)', async (t) => {
  const s = new Float32Array(small.cols * small.cols);
  const u = rng(5);
  for (let i = 0; i < small.cols; i++) s[i * small.cols + i] = 0.1 + u() * 10;
  s[3 * small.cols + 3] = 0; // a dead input is rounded too
  const p = { ...small, s };
  const expected = rtnClosedForm(small.w, small.rows, small.cols, 3);
  for (const unroundedSweepEvery of [0, 3]) {
    const q = await quantizeChecked(t, p, { ...PLAIN, method: 'quantease', bits: 3, sweeps: 7, unroundedSweepEvery, blockSize: 16 });
    t.deepEqual(Array.from(q.values), Array.from(expected));
  }
});

test.serial('an identity S makes GPTQ equal RTN (plain and act-order)', async (t) => {
  const s = new Float32Array(small.cols * small.cols);
  for (let i = 0; i < small.cols; i++) s[i * small.cols + i] = 1;
  const expected = rtnClosedForm(small.w, small.rows, small.cols, 4);
  for (const actOrder of [false, true]) {
    const q = await quantizeChecked(t, { ...small, s }, { method: 'gptq', bits: 4, actOrder, blockSize: 16 });
    t.deepEqual(Array.from(q.values), Array.from(expected));
    t.is(q.stats.fallback, undefined);
  }
});

/** Unblocked float64 QuantEase (the paper's Algorithm 1, P recomputed for every column). */
function naiveQuantEase(p: TestProblem, grid: Grid, sweeps: number): Float64Array {
  const { rows, cols, w, s } = p;
  const what = Float64Array.from(w);
  const maxq = 2 ** grid.bits - 1;
  for (let k = 0; k < sweeps; k++) {
    for (let j = 0; j < cols; j++) {
      for (let r = 0; r < rows; r++) {
        let pj = 0; // ((W - What) S)[r, j]
        for (let i = 0; i < cols; i++) pj += (w[r * cols + i] - what[r * cols + i]) * s[i * cols + j];
        const sjj = s[j * cols + j];
        const x = sjj > 0 ? what[r * cols + j] + pj / sjj : w[r * cols + j];
        const g = r * grid.groups + Math.floor(j / grid.groupSize);
        const q = Math.min(maxq, Math.max(0, Math.round(x / grid.scale[g]) + grid.zero[g]));
        what[r * cols + j] = Math.fround((q - grid.zero[g]) * grid.scale[g]);
      }
    }
  }
  return what;
}

test.serial('a blocked sweep equals the naive unblocked float64 sweep', async (t) => {
  const p = correlatedProblem(12, 70, 200, 23); // 70 columns: partial outer (48) and inner (32) blocks
  for (const blockSize of [48, 128]) {
    const q = await quantizeChecked(t, p, { ...PLAIN, method: 'quantease', bits: 3, sweeps: 3, unroundedSweepEvery: 0, blockSize, groupSize: 32 });
    const ref = naiveQuantEase(p, q.grid, 3);
    let mismatches = 0;
    for (let i = 0; i < ref.length; i++) if (ref[i] !== q.values[i]) mismatches++;
    t.is(mismatches, 0, `blockSize ${blockSize}`);
  }
});

test.serial('the QuantEase objective never rises across rounded sweeps', async (t) => {
  for (const seed of [1, 2]) {
    const p = correlatedProblem(32, 48, 200, seed);
    for (const unroundedSweepEvery of [0, 3]) {
      const q = await quantizeChecked(t, p, { ...PLAIN, method: 'quantease', bits: 3, sweeps: 12, unroundedSweepEvery, unroundedUntil: 7, blockSize: 32 });
      const h = q.stats.history!;
      t.is(h.length, unroundedSweepEvery ? 12 - 3 : 12); // sweeps 0, 3, 6 unrounded
      // With the schedule, only consecutive rounded sweeps (no unrounded one between) must not rise.
      const rounded = Array.from({ length: 12 }, (_, k) => !(unroundedSweepEvery && k % 3 === 0 && k < 7));
      const sweepOf = rounded.flatMap((r, k) => (r ? [k] : []));
      for (let i = 1; i < h.length; i++) {
        if (sweepOf[i] !== sweepOf[i - 1] + 1) continue;
        t.true(h[i] <= h[i - 1] * (1 + 1e-5) + 1e-9, `seed ${seed}: history[${i}] = ${h[i]} > ${h[i - 1]}`);
      }
      t.true(Math.abs(h[h.length - 1] - q.stats.objectiveAfter) <= 1e-3 * q.stats.objectiveAfter);
    }
  }
});

test.serial('on correlated problems QuantEase is never worse than RTN and on average better than GPTQ', async (t) => {
  const ratios: number[] = [];
  for (const seed of [31, 32, 33, 34, 35]) {
    const p = correlatedProblem(48, 64, 256, seed, 3);
    const r = await quantizeChecked(t, p, { method: 'rtn', bits: 3 });
    const g = await quantizeChecked(t, p, { method: 'gptq', bits: 3 });
    const q = await quantizeChecked(t, p, { ...PLAIN, method: 'quantease', bits: 3 });
    const fromGptq = await quantizeChecked(t, p, { method: 'quantease', bits: 3, init: 'gptq', actOrder: true, sweeps: 10, unroundedSweepEvery: 0 });
    const gAct = await quantizeChecked(t, p, { method: 'gptq', bits: 3, actOrder: true });
    t.true(q.stats.relativeError <= r.stats.relativeError, `seed ${seed}`);
    // from GPTQ's point with rounded sweeps only: never worse than that GPTQ
    t.true(fromGptq.stats.relativeError <= gAct.stats.relativeError * (1 + 1e-4), `seed ${seed} init gptq`);
    t.true(fromGptq.stats.objectiveBefore >= fromGptq.stats.objectiveAfter * (1 - 1e-4));
    ratios.push(q.stats.relativeError / g.stats.relativeError);
  }
  const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
  t.log(`QuantEase / GPTQ relative error: mean ${mean.toFixed(3)} (${ratios.map((x) => x.toFixed(3)).join(', ')})`);
  t.true(mean < 1, `mean QuantEase / GPTQ = ${mean} (${ratios.map((x) => x.toFixed(3)).join(', ')})`);
});

test.serial('outlier-aware QuantEase: on the grid plus exactly k outliers, and better than plain QuantEase', async (t) => {
  const p = correlatedProblem(40, 50, 200, 41, 3);
  const plain = await quantizeChecked(t, p, { ...PLAIN, method: 'quantease', bits: 3, sweeps: 12 });
  for (const structured of [false, true]) {
    const fraction = structured ? 0.04 : 0.02;
    const q = await quantizeChecked(t, p, { method: 'quantease', bits: 3, sweeps: 12, outliers: { fraction, structured } });
    const k = structured ? Math.round(fraction * p.cols) * p.rows : Math.round(fraction * p.rows * p.cols);
    const idx = q.outliers!.indices;
    t.is(idx.length, k);
    t.is(q.outliers!.values.length, k);
    for (let i = 1; i < idx.length; i++) t.true(idx[i] > idx[i - 1]);
    const skip = new Set(idx);
    t.true(onGrid(q.values, q.codes, q.grid, p.cols, skip));
    for (let i = 0; i < idx.length; i++) {
      t.is(q.values[idx[i]], q.outliers!.values[i]);
      const r = Math.floor(idx[i] / p.cols);
      t.is(q.codes[idx[i]], q.grid.zero[r]); // code of 0
    }
    if (structured) {
      const columns = new Set(Array.from(idx, (i) => i % p.cols));
      t.is(columns.size, Math.round(fraction * p.cols));
    }
    t.log(`${structured ? 'structured' : 'unstructured'} outliers: ${q.stats.relativeError.toPrecision(3)} vs plain ${plain.stats.relativeError.toPrecision(3)}`);
    t.true(q.stats.relativeError < plain.stats.relativeError, `${structured ? 'structured' : 'unstructured'}: ${q.stats.relativeError} vs ${plain.stats.relativeError}`);
    // the result actually differs from W: What is written, not W returned unquantized
    let off = 0;
    for (let i = 0; i < p.w.length; i++) if (!skip.has(i) && q.values[i] !== p.w[i]) off++;
    t.true(off > 0.9 * (p.w.length - k));
  }
});

test.serial('GPTQ never crashes: an indefinite S falls back to RTN, a singular S raises the damping', async (t) => {
  const n = small.cols;
  const neg = new Float32Array(n * n);
  for (let i = 0; i < n; i++) neg[i * n + i] = -1;
  const f = await quantizeChecked(t, { ...small, s: neg }, { method: 'gptq', bits: 3 });
  t.regex(f.stats.fallback ?? '', /used RTN/);
  t.deepEqual(Array.from(f.values), Array.from(rtnClosedForm(small.w, small.rows, n, 3)));
  t.is(f.stats.dampeningUsed, undefined);

  // rank one S = v v^T with no damping: the first factorization fails, the retry succeeds
  const g = gaussian(rng(9));
  const v = Array.from({ length: n }, () => g());
  const rank1 = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) rank1[i * n + j] = v[i] * v[j];
  const r = await quantizeChecked(t, { ...small, s: rank1 }, { method: 'gptq', bits: 3, dampening: 0 });
  t.is(r.stats.fallback, undefined);
  t.true((r.stats.dampeningUsed ?? 0) > 0);
  t.true(onGrid(r.values, r.codes, r.grid, n));
  const rt = await quantizeChecked(t, { ...small, s: rank1 }, { method: 'rtn', bits: 3 });
  t.true(r.stats.objectiveAfter <= rt.stats.objectiveAfter);
});

test.serial('progress is reported through onProgress, ending at total', async (t) => {
  const seen: { done: number; total: number; stage: string }[] = [];
  await quantizeChecked(t, small, { method: 'quantease', bits: 3, sweeps: 4, init: 'gptq', onProgress: (p) => seen.push(p) });
  t.true(seen.some((p) => p.stage === 'gptq'));
  t.deepEqual(seen.filter((p) => p.stage === 'quantease').at(-1), { done: 4, total: 4, stage: 'quantease' });
  const last = seen[seen.length - 1];
  t.deepEqual(last, { done: 2, total: 2, stage: 'refit' }); // the default's 2 refit rounds come last
});
