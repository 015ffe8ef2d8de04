/**
 * mSAM on any batch size, and the one scoped call (accumulateSlices) that outside code cannot leave
 * half-open: batch sizes 1..9 with 4 micro-batches against the explicit per-slice float64
 * reference; failures mid-step leave the weights at w, the base untouched and no tensor behind.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { sam } from '../../../plugins/sam/index.ts';
import { splitSizes } from '../../../plugins/core/tensor_utils.ts';
import { close, linRegSamGrad, noLeak, randomArray, useCpu } from './helpers.ts';

test.before(useCpu);

const D = 3;
const ROWS = 9;
const Xflat = randomArray(ROWS * D, 41);
const Yflat = randomArray(ROWS, 42);
const X = Array.from({ length: ROWS }, (_, i) => Xflat.slice(i * D, (i + 1) * D));
const W0 = randomArray(D, 43);
const B0 = 0.2;
const RHO = 0.3;
const LR = 0.2;

function linear(tag: string) {
  const w = tf.variable(tf.tensor2d(W0, [D, 1]), true, `ms_w_${tag}`);
  const b = tf.variable(tf.tensor1d([B0]), true, `ms_b_${tag}`);
  const lossFn = (xs: tf.Tensor, ys: tf.Tensor) => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(xs as tf.Tensor2D, w), b), ys))) as tf.Scalar;
  return { w, b, lossFn, dispose: () => tf.dispose([w, b]) };
}

/**
 * float64 mSAM + SGD on the first n rows: slices of sizes ceil/floor(n / min(n, 4)), larger first;
 * g = sum_s n_s g_sam(slice s) / n; w -= lr g. Returns the weights and the size-weighted loss at w.
 */
function msamReference(n: number, microBatches: number) {
  const p = Math.min(n, microBatches);
  const sizes = Array.from({ length: p }, (_, i) => Math.floor(n / p) + (i < n % p ? 1 : 0));
  const gw = new Array<number>(D).fill(0);
  let gb = 0;
  let loss = 0;
  let from = 0;
  for (const m of sizes) {
    const g = linRegSamGrad(X.slice(from, from + m), Yflat.slice(from, from + m), W0, B0, RHO);
    g.gw.forEach((v, j) => (gw[j] += (m / n) * v));
    gb += (m / n) * g.gb;
    loss += (m / n) * g.loss;
    from += m;
  }
  return { sizes, w: W0.map((v, j) => v - LR * gw[j]), b: B0 - LR * gb, loss };
}

test('mSAM(4) at batch sizes 1..9 equals the per-slice float64 reference (a batch of 1 is plain SAM on it)', (t) => {
  for (let n = 1; n <= ROWS; n++) {
    const m = linear(`n${n}`);
    const xs = tf.tensor2d(Xflat.slice(0, n * D), [n, D]);
    const ys = tf.tensor2d(Yflat.slice(0, n), [n, 1]);
    const opt = sam(tf.train.sgd(LR), { rho: RHO, microBatches: 4 });
    const ref = msamReference(n, 4);
    t.deepEqual(splitSizes(n, 4), ref.sizes, `n=${n}: slice sizes`);
    const cost = noLeak(t, `n=${n} minimizeOnBatch`, () => {
      const c = opt.minimizeOnBatch(m.lossFn, xs, ys, true)!;
      const v = c.dataSync()[0];
      c.dispose();
      return v;
    });
    close(t, m.w.dataSync(), ref.w, 1e-6, 1e-5, `n=${n}: w`);
    close(t, m.b.dataSync(), [ref.b], 1e-6, 1e-5, `n=${n}: b`);
    t.true(Math.abs(cost - ref.loss) < 1e-5, `n=${n}: cost ${cost} vs ${ref.loss}`);
    t.is(opt.iterations, 1, `n=${n}: one base update`);
    if (n === 1) {
      // One row: exactly plain SAM on it (microBatches = 1), bit for bit.
      const p = linear('n1_plain');
      const plain = sam(tf.train.sgd(LR), { rho: RHO });
      plain.minimize(() => p.lossFn(xs, ys), false, [p.w, p.b]);
      t.deepEqual(Array.from(m.w.dataSync()), Array.from(p.w.dataSync()));
      t.deepEqual(Array.from(m.b.dataSync()), Array.from(p.b.dataSync()));
      p.dispose();
    }
    m.dispose();
    tf.dispose([xs, ys]);
  }
});

/** Adam's state as numbers. getWeights returns [a new iterations scalar, ...the slot variables themselves]. */
async function slotValues(opt: tf.Optimizer): Promise<number[][]> {
  const ws = await opt.getWeights();
  const out = ws.map((s) => Array.from(s.tensor.dataSync()));
  ws[0].tensor.dispose();
  return out;
}

test('a failure mid-step (perturbed pass of slice 3) updates nothing, leaves w in place, leaks nothing; the next step works', async (t) => {
  const m = linear('fail');
  const xs = tf.tensor2d(Xflat, [ROWS, D]);
  const ys = tf.tensor2d(Yflat, [ROWS, 1]);
  const opt = sam(tf.train.adam(0.1), { rho: RHO, microBatches: 4 });
  let calls = 0;
  const failAt = (k: number) => (x: tf.Tensor, y: tf.Tensor) => {
    calls += 1;
    if (calls === k) {
      tf.ones([4]); // a tensor of the failed pass, left for the step to clean up
      throw new Error(`loss failed at call ${k}`);
    }
    return m.lossFn(x, y);
  };
  opt.minimizeOnBatch(m.lossFn, xs, ys); // creates adam's slots
  const w1 = Array.from(m.w.dataSync());
  const slots1 = await slotValues(opt);
  for (const k of [1, 2, 6]) { // first pass of slice 1, perturbed pass of slice 1, perturbed pass of slice 3
    calls = 0;
    const before = tf.memory().numTensors;
    t.throws(() => opt.minimizeOnBatch(failAt(k), xs, ys, true), { message: `loss failed at call ${k}` });
    t.is(tf.memory().numTensors, before, `k=${k}: no tensor leaked`);
    t.deepEqual(Array.from(m.w.dataSync()), w1, `k=${k}: w restored`);
    t.is(opt.iterations, 1, `k=${k}: nothing applied`);
    t.deepEqual(await slotValues(opt), slots1, `k=${k}: adam's slots untouched`);
  }
  // The scope was left: a normal step runs and updates once.
  calls = 0;
  noLeak(t, 'the next step', () => opt.minimizeOnBatch(failAt(-1), xs, ys));
  t.is(opt.iterations, 2);
  m.dispose();
  opt.dispose();
  tf.dispose([xs, ys]);
});

test('accumulateSlices: one scoped call; misuse is refused and leaves nothing open', (t) => {
  const m = linear('scope');
  const xs = tf.tensor2d(Xflat, [ROWS, D]);
  const ys = tf.tensor2d(Yflat, [ROWS, 1]);
  const opt = sam(tf.train.sgd(LR), { rho: RHO });
  const f = () => m.lossFn(xs, ys);
  const before = tf.memory().numTensors;
  t.throws(() => opt.accumulateSlices([1, 1], () => opt.accumulateSlices([1], () => opt.minimize(f, true) as tf.Scalar)), {
    message: 'SAMOptimizer.accumulateSlices cannot be nested: a step is already running.',
  });
  t.throws(() => opt.accumulateSlices([2], () => tf.scalar(0)), {
    message: 'SAMOptimizer.accumulateSlices: runSlice(0) must call minimize() exactly once; it called it 0 times.',
  });
  t.throws(() => opt.accumulateSlices([2], () => [opt.minimize(f, true)!, opt.minimize(f, true)!]), {
    message: 'SAMOptimizer.accumulateSlices: runSlice(0) must call minimize() exactly once; it called it 2 times.',
  });
  t.throws(() => opt.accumulateSlices([], () => tf.scalar(0)), { message: /`sliceSizes` must be a non-empty array of positive integers. Received: sliceSizes=\[\]/ });
  t.throws(() => opt.accumulateSlices([2, 0], () => tf.scalar(0)), { message: /Received: sliceSizes=\[2, 0\]/ });
  t.is(tf.memory().numTensors, before, 'nothing leaked by the refused calls');
  t.is(opt.iterations, 0, 'nothing applied');
  t.deepEqual(Array.from(m.w.dataSync()), W0.map(Math.fround));
  // Outside any scope minimize updates at once again (the scope did not stay open).
  noLeak(t, 'minimize', () => opt.minimize(f));
  t.is(opt.iterations, 1);
  m.dispose();
  tf.dispose([xs, ys]);
});
