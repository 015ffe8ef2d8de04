/**
 * Layer pruning against the exact optimum of small problems (exact.ts: every support enumerated),
 * degenerate cases against their closed forms, pattern invariants, option errors and leaks.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { OptionError } from '../../../plugins/core/errors.ts';
import { pruneLayer, maskFollows } from '../../../plugins/prune/index.ts';
import { exactOptimum, PATTERNS } from './exact.ts';
import type { PruneMethod } from '../../../plugins/prune/index.ts';
import { correlatedProblem, objective64 } from '../quantease/helpers.ts';

test.before(async () => {
  await tf.setBackend('cpu');
});


test('on small problems: bound <= exact optimum <= every method, and l0 finds the optimum in >= 90% of cases', (t) => {
  // A case is one independent problem: a row for the row-separable patterns, the layer for
  // 'columns' (rows share the support there).
  const before = tf.memory().numTensors;
  const rows = 3;
  const n = 8;
  for (const [label, pattern] of PATTERNS) {
    let exact = 0;
    let cases = 0;
    let worst = 0;
    let gapSum = 0;
    for (let seed = 0; seed < 20; seed++) {
      const p = correlatedProblem(rows, n, 24, 100 + seed, 1);
      const weight = tf.tensor2d(p.w, [rows, n]);
      const sigma = tf.tensor2d(p.s, [n, n]);
      const results = Object.fromEntries((['magnitude', 'wanda', 'sparsegpt', 'l0'] as PruneMethod[]).map((method) => {
        const r = pruneLayer({ weight, sigma }, { method, pattern, lowerBound: 'relaxation', boundIterations: 200 });
        t.true(maskFollows(r.mask, rows, n, pattern), `${label} ${method}: mask follows the pattern`);
        const values = Float32Array.from(r.weight.dataSync());
        r.weight.dispose();
        return [method, { stats: r.stats, values }];
      }));
      const sub = pattern.kind === 'columns' ? [[0, rows]] : Array.from({ length: rows }, (_, r) => [r, r + 1]);
      for (const [r0, r1] of sub) {
        const wr = p.w.subarray(r0 * n, r1 * n);
        const opt = exactOptimum(wr, p.s, r1 - r0, n, pattern);
        const mine = objective64(wr, results.l0.values.subarray(r0 * n, r1 * n), p.s, r1 - r0, n);
        t.true(mine >= opt - 1e-6 * opt - 1e-9, `${label} seed ${seed} rows ${r0}..${r1}: l0 ${mine} below the optimum ${opt}`);
        if (mine <= opt * (1 + 1e-5) + 1e-12) exact++;
        worst = Math.max(worst, mine / opt - 1);
        cases++;
      }
      const opt = exactOptimum(p.w, p.s, rows, n, pattern);
      const tol = 1e-6 * opt + 1e-9;
      for (const [method, r] of Object.entries(results)) {
        t.true(r.stats.objective >= opt - tol, `${label} seed ${seed} ${method}: ${r.stats.objective} below the optimum ${opt}`);
        t.true(r.stats.lowerBound <= opt + tol, `${label} seed ${seed}: bound ${r.stats.lowerBound} above the optimum ${opt}`);
      }
      t.true(results.l0.stats.objective <= results.sparsegpt.stats.objective + tol, `${label} seed ${seed}: l0 never worse than SparseGPT`);
      gapSum += (opt - results.l0.stats.lowerBound) / opt;
      tf.dispose([weight, sigma]);
    }
    t.log(`${label}: l0 exact in ${exact}/${cases} (worst ${(100 * worst).toFixed(2)}% above); mean relative gap of the relaxation bound to the optimum ${(gapSum / 20).toFixed(3)}`);
    t.true(exact >= 0.9 * cases, `${label}: l0 reached the optimum in ${exact} of ${cases}`);
  }
  t.is(tf.memory().numTensors, before);
});

test('diagonal S: the optimum keeps the largest S_jj w_j^2, every method but magnitude finds it, and the bound is exact', (t) => {
  const rows = 4;
  const n = 6;
  const d = [4, 1, 0.25, 9, 2, 0.5];
  const w = Float32Array.from({ length: rows * n }, (_, i) => ((i * 7) % 11) / 5 - 1);
  const s = new Float32Array(n * n);
  d.forEach((v, j) => (s[j * n + j] = v));
  // Expected by hand: per row, prune the 3 smallest d_j w_j^2; the kept weights stay w.
  let expected = 0;
  for (let r = 0; r < rows; r++) {
    const costs = d.map((dj, j) => dj * w[r * n + j] ** 2).sort((a, b) => a - b);
    expected += costs[0] + costs[1] + costs[2];
  }
  const weight = tf.tensor2d(w, [rows, n]);
  const sigma = tf.tensor2d(s, [n, n]);
  for (const method of ['wanda', 'sparsegpt', 'l0'] as const) {
    const r = pruneLayer({ weight, sigma }, { method, pattern: { kind: 'unstructured', fraction: 0.5 }, dampening: 0 });
    t.true(Math.abs(r.stats.objective - expected) <= 1e-5 * expected, `${method}: ${r.stats.objective} vs ${expected}`);
    t.true(Math.abs(r.stats.lowerBound - expected) <= 1e-5 * expected, `${method} bound: ${r.stats.lowerBound} vs ${expected}`);
    r.weight.dispose();
  }
  weight.dispose();
  sigma.dispose();
});

test('fraction 0 keeps W exactly; fraction 1 prunes everything (objective = baseline)', (t) => {
  const p = correlatedProblem(5, 12, 40, 7, 1);
  const weight = tf.tensor2d(p.w, [5, 12]);
  const sigma = tf.tensor2d(p.s, [12, 12]);
  for (const method of ['magnitude', 'wanda', 'sparsegpt', 'l0'] as const) {
    const keep = pruneLayer({ weight, sigma }, { method, pattern: { kind: 'unstructured', fraction: 0 } });
    t.deepEqual(keep.weight.dataSync(), p.w, method);
    t.is(keep.stats.objective, 0);
    const none = pruneLayer({ weight, sigma }, { method, pattern: { kind: 'unstructured', fraction: 1 } });
    t.true(none.weight.dataSync().every((x) => x === 0));
    t.true(Math.abs(none.stats.objective - none.stats.baseline) <= 1e-9 * none.stats.baseline);
    tf.dispose([keep.weight, none.weight]);
  }
  tf.dispose([weight, sigma]);
});

test('on a 32 x 64 correlated layer at 50%: l0 <= SparseGPT <= Wanda-free baselines ordering, and a reported gap', (t) => {
  const p = correlatedProblem(32, 64, 256, 11);
  const weight = tf.tensor2d(p.w, [32, 64]);
  const sigma = tf.tensor2d(p.s, [64, 64]);
  const err: Record<string, number> = {};
  for (const method of ['magnitude', 'wanda', 'sparsegpt', 'l0'] as const) {
    const r = pruneLayer({ weight, sigma }, { method, lowerBound: 'relaxation', boundIterations: 40 });
    err[method] = r.stats.relativeError;
    t.true(r.stats.lowerBound > 0 && r.stats.lowerBound <= r.stats.objective);
    t.is(r.stats.sparsity, 0.5);
    if (method === 'l0') t.log(`l0 gap to the certified bound: ${(100 * r.stats.gap).toFixed(1)}%, ${r.stats.swaps} swaps in ${r.stats.rounds} rounds`);
    r.weight.dispose();
  }
  t.log(err);
  t.true(err.l0 < err.sparsegpt && err.sparsegpt < err.wanda && err.wanda < err.magnitude);
  t.true(err.l0 <= 0.9 * err.sparsegpt, `l0 ${err.l0} vs SparseGPT ${err.sparsegpt}`);
  tf.dispose([weight, sigma]);
});

test('bad options are refused once, naming the option, the value and what is allowed', (t) => {
  const weight = tf.zeros([2, 4]) as tf.Tensor2D;
  const sigma = tf.eye(4) as tf.Tensor2D;
  const cases: Array<[object, RegExp]> = [
    [{ method: 'obs' }, /`method` must be one of .*Received: method="obs"/],
    [{ pattern: { kind: 'unstructured', fraction: 1.5 } }, /`pattern.fraction` must be .*Received: pattern.fraction=1.5/],
    [{ pattern: { kind: 'nm', n: 5, m: 4 } }, /`pattern.n` must be <= pattern.m/],
    [{ pattern: { kind: 'nm', n: 2, m: 4, fraction: 0.5 } }, /Unknown option `fraction`/],
    [{ pattern: 'half' }, /`pattern` must be an object/],
    [{ rounds: 0 }, /`rounds`/],
    [{ lowerBound: 'exact' }, /`lowerBound` must be one of/],
    [{ sweeps: 3 }, /Unknown option `sweeps` for pruneLayer/],
  ];
  for (const [options, message] of cases) t.throws(() => pruneLayer({ weight, sigma }, options as never), { instanceOf: OptionError, message });
  tf.dispose([weight, sigma]);
});
