/**
 * mSAM under model.fit and trainOnBatch on any batch size (issue 10 item 2): batches of 1..9 rows
 * with 4 micro-batches against the explicit per-slice float64 reference; the last batch of an epoch
 * with one row; batchSize 1; a failure forced mid-step leaks nothing and changes nothing.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { sam, SAMOptimizer } from '../../../adapters/fit/index.ts';
import { splitSizes } from '../../../plugins/core/tensor_utils.ts';
import { close, linRegMsamStep, randomArray, useCpu } from '../../plugins/sam/helpers.ts';

test.before(useCpu);

const D = 3;
const ROWS = 9;
const Xflat = randomArray(ROWS * D, 51);
const Yflat = randomArray(ROWS, 52);
const X = Array.from({ length: ROWS }, (_, i) => Xflat.slice(i * D, (i + 1) * D));
const W0 = randomArray(D, 53);
const B0 = 0.25;
const RHO = 0.3;
const LR = 0.2;
const MICRO = 4;

/** Dense(1) linear regression y = x w + b (loss mse: the float64 reference's loss), weights W0, B0. */
function linearModel(loss: tfl.LayersModel['loss'] | ((yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor) = 'meanSquaredError'): tfl.LayersModel {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [D], units: 1 })] });
  const init = [tf.tensor2d(W0, [D, 1]), tf.tensor1d([B0])];
  model.setWeights(init);
  tf.dispose(init);
  model.compile({ optimizer: sam(tf.train.sgd(LR), { rho: RHO, microBatches: MICRO, model }), loss: loss as string, metrics: ['mae'] });
  return model;
}

const weightsOf = (m: tfl.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));
const rows = (from: number, n: number) => [tf.tensor2d(Xflat.slice(from * D, (from + n) * D), [n, D]), tf.tensor2d(Yflat.slice(from, from + n), [n, 1])];

test.serial('trainOnBatch with 1..9 rows and microBatches 4 equals the per-slice float64 reference, without leaks', async (t) => {
  for (let n = 1; n <= ROWS; n++) {
    const model = linearModel();
    const [x, y] = rows(0, n);
    const ref = linRegMsamStep(X.slice(0, n), Yflat.slice(0, n), W0, B0, splitSizes(n, MICRO), RHO, LR);
    const before = tf.memory().numTensors;
    const out = (await model.trainOnBatch(x, y)) as number[];
    t.is(tf.memory().numTensors, before, `n=${n}: no leak`);
    t.is(out.length, 2, `n=${n}: [loss, mae]`);
    t.true(Math.abs(out[0] - ref.loss) < 1e-5, `n=${n}: loss ${out[0]} vs ${ref.loss}`);
    const [k, b] = weightsOf(model);
    close(t, k, ref.w, 1e-6, 1e-5, `n=${n}: kernel`);
    close(t, b, [ref.b], 1e-6, 1e-5, `n=${n}: bias`);
    t.is((model.optimizer as SAMOptimizer).iterations, 1, `n=${n}: one base update`);
    model.dispose();
    tf.dispose([x, y]);
  }
});

test.serial('model.fit: last batch of one row (9 rows, batchSize 4) and batchSize 1 follow the reference step by step', async (t) => {
  for (const batchSize of [4, 1]) {
    const model = linearModel();
    const [x, y] = rows(0, ROWS);
    const h = await model.fit(x, y, { batchSize, epochs: 1, shuffle: false, verbose: 0 });
    let w = W0.slice();
    let b = B0;
    let lossSum = 0;
    for (let from = 0; from < ROWS; from += batchSize) {
      const n = Math.min(batchSize, ROWS - from);
      const step = linRegMsamStep(X.slice(from, from + n), Yflat.slice(from, from + n), w, b, splitSizes(n, MICRO), RHO, LR);
      ({ w, b } = step);
      lossSum += step.loss * n;
    }
    const [k, bias] = weightsOf(model);
    close(t, k, w, 1e-5, 1e-5, `batchSize ${batchSize}: kernel`);
    close(t, bias, [b], 1e-5, 1e-5, `batchSize ${batchSize}: bias`);
    t.true(Math.abs((h.history.loss[0] as number) - lossSum / ROWS) < 1e-5, `batchSize ${batchSize}: epoch loss`);
    t.is((model.optimizer as SAMOptimizer).iterations, Math.ceil(ROWS / batchSize));
    // No leak per epoch.
    const after1 = tf.memory().numTensors;
    await model.fit(x, y, { batchSize, epochs: 2, verbose: 0 });
    t.is(tf.memory().numTensors, after1, `batchSize ${batchSize}: no leak over 2 more epochs`);
    model.dispose();
    tf.dispose([x, y]);
  }
});

test.serial('a failure forced mid-step under trainOnBatch (with metrics) leaks nothing, changes nothing, and the next step works', async (t) => {
  let calls = 0;
  let failAt = -1;
  const mse = (yTrue: tf.Tensor, yPred: tf.Tensor) => {
    calls += 1;
    if (calls === failAt) throw new Error(`loss failed at call ${failAt}`);
    return tf.mean(tf.square(tf.sub(yPred, yTrue)), -1);
  };
  const [x, y] = rows(0, ROWS);
  // Warm up tfjs-layers' one-time caches (created on the first training call of the process).
  const warm = linearModel(mse);
  await warm.trainOnBatch(x, y);
  warm.dispose();
  const model = linearModel(mse);
  // 9 rows in 4 slices [3, 2, 2, 2]; closure calls: slice s first pass 2s-1, perturbed pass 2s.
  for (const k of [1, 2, 3, 4, 8]) {
    calls = 0;
    failAt = k;
    const before = tf.memory().numTensors;
    await t.throwsAsync(() => model.trainOnBatch(x, y), { message: `loss failed at call ${k}` });
    t.is(tf.memory().numTensors, before, `failure at closure call ${k}: no tensor leaked`);
    t.deepEqual(weightsOf(model), [W0.map(Math.fround), [Math.fround(B0)]], `failure at call ${k}: weights unchanged`);
    t.is((model.optimizer as SAMOptimizer).iterations, 0, `failure at call ${k}: nothing applied`);
  }
  calls = 0;
  failAt = -1;
  const before = tf.memory().numTensors;
  const out = (await model.trainOnBatch(x, y)) as number[];
  t.is(tf.memory().numTensors, before, 'the next step does not leak');
  const ref = linRegMsamStep(X, Yflat, W0, B0, splitSizes(ROWS, MICRO), RHO, LR);
  t.true(Math.abs(out[0] - ref.loss) < 1e-5);
  close(t, weightsOf(model)[0], ref.w, 1e-6, 1e-5, 'the next step equals the reference');
  model.dispose();
  tf.dispose([x, y]);
});
