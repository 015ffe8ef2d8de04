/**
 * Sharpness diagnostics on tfjs-layers models (adapters/sharpness).
 *
 * Linear least squares, model Dense(1, no bias) on 2 features with mean squared error:
 *   L(w) = (1/n) sum_i (x_i.w - y_i)^2,  Hessian A = (2/n) X^T X (constant), so
 *   lambda_max = (a + d)/2 + sqrt(((a - d)/2)^2 + b^2) for A = [[a, b], [b, d]] (computed here in float64);
 *   and on each micro-batch, rho ||g|| <= max_{||e|| <= rho} L(w + e) - L(w) <= rho ||g|| + rho^2 lambda_max / 2.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { modelHessianEigenvalue, modelMSharpness } from '../../../adapters/sharpness/index.ts';

test.before(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

const X = [[1, 0.5], [0.2, -1], [-0.7, 0.3], [1.5, 1], [0.1, 0.4], [-1, -0.2], [0.6, 0.9], [-0.3, 1.2]];
const Y = [1, -0.5, 0.2, 2, 0.3, -1, 1.1, 0.4];

function linearModel(): tfl.Sequential {
  const m = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [2], units: 1, useBias: false, kernelInitializer: 'zeros' })] });
  m.setWeights([tf.tensor2d([[0.3], [-0.2]])]);
  m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return m;
}

function lambdaMax(rows: number[][]): number {
  const n = rows.length;
  const a = (2 / n) * rows.reduce((s, r) => s + r[0] * r[0], 0);
  const b = (2 / n) * rows.reduce((s, r) => s + r[0] * r[1], 0);
  const d = (2 / n) * rows.reduce((s, r) => s + r[1] * r[1], 0);
  return (a + d) / 2 + Math.sqrt(((a - d) / 2) ** 2 + b * b);
}

test('linear least squares: the top Hessian eigenvalue equals that of (2/n) X^T X, exact and finite-difference', (t) => {
  const model = linearModel();
  const x = tf.tensor2d(X);
  const y = tf.tensor2d(Y, [Y.length, 1]);
  const expected = lambdaMax(X);
  const before = tf.memory().numTensors;
  const w0 = model.getWeights()[0].arraySync();
  for (const hvp of ['exact', 'finite-difference'] as const) {
    const r = modelHessianEigenvalue(model, x, y, { hvp, tolerance: 1e-7, maxIterations: 200, progress: false });
    t.true(Math.abs(r.eigenvalue - expected) < 1e-3 * expected, `${hvp}: ${r.eigenvalue} vs ${expected}`);
    t.is(r.hvp, hvp);
  }
  t.is(tf.memory().numTensors, before, 'no tensor leak');
  t.deepEqual(model.getWeights()[0].arraySync(), w0, 'weights unchanged');
  tf.dispose([x, y]);
  model.dispose();
});

test('linear least squares: m-sharpness of each micro-batch lies between rho||g|| and rho||g|| + rho^2 lambda_max / 2', (t) => {
  const model = linearModel();
  const x = tf.tensor2d(X);
  const y = tf.tensor2d(Y, [Y.length, 1]);
  const rho = 0.1;
  const m = 4;
  const r = modelMSharpness(model, x, y, { rho, microBatchSize: m, steps: 20, progress: false });
  t.is(r.perMicroBatch.length, 2);
  t.is(r.microBatchSize, m);
  for (let k = 0; k < 2; k++) {
    const rows = X.slice(k * m, (k + 1) * m);
    const ys = Y.slice(k * m, (k + 1) * m);
    const w = [0.3, -0.2];
    // g = (2/m) X^T (X w - y), float64.
    const res = rows.map((row, i) => row[0] * w[0] + row[1] * w[1] - ys[i]);
    const g = [0, 1].map((j) => (2 / m) * rows.reduce((s, row, i) => s + row[j] * res[i], 0));
    const gn = Math.hypot(g[0], g[1]);
    const lo = rho * gn;
    const hi = rho * gn + 0.5 * rho * rho * lambdaMax(rows);
    t.true(r.perMicroBatch[k] >= lo - 1e-5 && r.perMicroBatch[k] <= hi + 1e-5, `${k}: ${lo} <= ${r.perMicroBatch[k]} <= ${hi}`);
    const base = res.reduce((s, v) => s + v * v, 0) / m;
    t.true(Math.abs(r.baseLoss[k] - base) < 1e-5);
  }
  t.true(Math.abs(r.value - (r.perMicroBatch[0] + r.perMicroBatch[1]) / 2) < 1e-7);
  tf.dispose([x, y]);
  model.dispose();
});

test('CNN with BatchNorm: auto falls back to finite differences; weights and moving statistics unchanged; no leak', (t) => {
  const model = tfl.sequential({ layers: [
    tfl.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
    tfl.layers.batchNormalization(),
    tfl.layers.reLU(),
    tfl.layers.flatten(),
    tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
  ] });
  model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
  const x = tf.randomUniform([8, 6, 6, 1], 0, 1, 'float32', 3);
  const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3), 'float32');
  const all = () => model.weights.map((w) => Array.from(w.read().dataSync()));
  const w0 = all();
  const before = tf.memory().numTensors;
  const h = modelHessianEigenvalue(model, x, y, { maxIterations: 5, progress: false });
  t.is(h.hvp, 'finite-difference');
  t.true(Number.isFinite(h.eigenvalue));
  const s = modelMSharpness(model, x, y, { microBatchSize: 4, steps: 3, progress: false });
  t.true(s.value >= 0 && Number.isFinite(s.value));
  t.is(tf.memory().numTensors, before, 'no tensor leak');
  t.deepEqual(all(), w0, 'every weight (BatchNorm moving statistics included) unchanged');
  tf.dispose([x, y]);
  model.dispose();
});

test('bad input: unknown options, bad sizes, no loss; messages name the argument and value', (t) => {
  const model = linearModel();
  const x = tf.tensor2d(X);
  const y = tf.tensor2d(Y, [Y.length, 1]);
  t.throws(() => modelMSharpness(model, x, y, { microBatch: 4 } as never), { message: /Unknown option `microBatch` for modelMSharpness/ });
  t.throws(() => modelMSharpness(model, x, y, { microBatchSize: 0 }), { message: /`microBatchSize` must be an integer >= 1. Received: microBatchSize=0/ });
  t.throws(() => modelMSharpness(model, x, y, { microBatchSize: 9 }), { message: /fewer than microBatchSize=9/ });
  t.throws(() => modelMSharpness(model, x, y, { rho: -1 }), { message: /`rho` must be a finite number > 0. Received: rho=-1/ });
  t.throws(() => modelHessianEigenvalue(model, x, y, { tol: 1 } as never), { message: /Unknown option `tol` for modelHessianEigenvalue/ });
  t.throws(() => modelHessianEigenvalue(model, x, tf.zeros([3, 1])), { message: /same non-zero batch size/ });
  const raw = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [2], units: 1 })] });
  t.throws(() => modelHessianEigenvalue(raw, x, y), { message: /no single compiled loss/ });
  const r = modelHessianEigenvalue(raw, x, y, { loss: (yt, yp) => tf.mean(tf.square(tf.sub(yt, yp)), -1), maxIterations: 3, progress: false });
  t.true(Number.isFinite(r.eigenvalue));
  tf.dispose([x, y]);
  model.dispose();
  raw.dispose();
});
