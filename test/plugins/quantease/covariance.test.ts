import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { CovarianceAccumulator } from '../../../plugins/quantease/covariance.ts';
import { InputError } from '../../../plugins/core/errors.ts';
import { correlatedProblem, noLeak } from './helpers.ts';

test.before(async () => {
  await tf.setBackend('wasm');
});

test.serial('streaming S equals S computed at once (and the float64 X^T X)', async (t) => {
  const p = correlatedProblem(4, 24, 100, 7);
  const x = tf.tensor2d(Float32Array.from(p.x), [p.n, p.cols]);
  await noLeak(t, () => {
    const once = new CovarianceAccumulator(p.cols);
    once.add(x);
    const streamed = new CovarianceAccumulator(p.cols);
    for (const [start, size] of [[0, 33], [33, 1], [34, 0], [34, 66]]) {
      const b = tf.slice(x, [start, 0], [size, p.cols]);
      streamed.add(b);
      b.dispose();
    }
    t.is(streamed.count, 100);
    const a = once.sigma();
    const b = streamed.sigma();
    const da = a.dataSync();
    const db = b.dataSync();
    let worst = 0;
    for (let i = 0; i < da.length; i++) {
      const scale = Math.abs(p.s[i]) + 1e-3 * Math.abs(p.s[Math.floor(i / p.cols) * (p.cols + 1)]);
      worst = Math.max(worst, Math.abs(da[i] - db[i]) / scale, Math.abs(da[i] - p.s[i]) / scale);
    }
    t.true(worst < 1e-4, `max relative difference ${worst}`);
    a.dispose();
    b.dispose();
    once.dispose();
    streamed.dispose();
  });
  x.dispose();
});

test.serial('NaN / Inf activations, a width mismatch and an empty set are InputErrors', async (t) => {
  await noLeak(t, () => {
    const acc = new CovarianceAccumulator(3);
    const nan = tf.tensor2d([[1, NaN, 2]]);
    t.throws(() => acc.add(nan), { instanceOf: InputError, message: /NaN or Inf.*feature 1/ });
    const inf = tf.tensor2d([[1, 2, Infinity]]);
    t.throws(() => acc.add(inf), { instanceOf: InputError, message: /NaN or Inf.*feature 2/ });
    const wide = tf.tensor2d([[1, 2, 3, 4]]);
    t.throws(() => acc.add(wide), { instanceOf: InputError, message: /4 features but the layer takes 3/ });
    t.throws(() => acc.sigma(), { instanceOf: InputError, message: /Empty calibration set/ });
    t.is(acc.count, 0);
    for (const x of [nan, inf, wide]) x.dispose();
    acc.dispose();
  });
});
