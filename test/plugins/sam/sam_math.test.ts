/**
 * SAM / ASAM / mSAM math against hand-derived values and float64 references written here.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { sam, samPerturbation, asamPerturbation } from '../../../plugins/sam/index.ts';
import { close, linRegGrad, linRegSamGrad, noLeak, randomArray, useCpu } from './helpers.ts';

test.before(useCpu);

// Quadratic f(w) = 0.5 * sum_i a_i w_i^2 with a = [1, 2], so grad f = a * w.
const A = [1, 2];
const quadratic = (w: tf.Variable) => () => tf.mul(0.5, tf.sum(tf.mul(tf.tensor1d(A), tf.square(w)))) as tf.Scalar;

/** float64 SAM + SGD on the quadratic, the reference for step 2 and beyond. */
function quadraticSamSgd(w0: number[], rho: number, lr: number, steps: number): number[] {
  let w = w0.slice();
  for (let s = 0; s < steps; s++) {
    const g = w.map((wi, i) => A[i] * wi);
    const norm = Math.hypot(...g);
    const e = g.map((gi) => (rho * gi) / (norm + 1e-12));
    const gs = w.map((wi, i) => A[i] * (wi + e[i]));
    w = w.map((wi, i) => wi - lr * gs[i]);
  }
  return w;
}

test('one and two SAM steps on a quadratic (SGD base)', (t) => {
  const w = tf.variable(tf.tensor1d([3, 2]), true, 'quad_w');
  const opt = sam(tf.train.sgd(0.1), { rho: 0.5 });
  // Step 1: g = a*w = [3, 4], ||g|| = 5, eps = 0.5 * [3, 4] / 5 = [0.3, 0.4],
  // g_sam = a * (w + eps) = [3.3, 4.8], w1 = w - 0.1 * g_sam = [2.67, 1.52].
  const cost = noLeak(t, 'minimize', () => {
    const c = opt.minimize(quadratic(w), true)!;
    const v = c.dataSync()[0];
    c.dispose();
    return v;
  });
  t.true(Math.abs(cost - 0.5 * (9 + 2 * 4)) < 1e-5, 'cost is f(w0) = 8.5, at w, not at w + eps');
  close(t, w.dataSync(), [2.67, 1.52], 1e-6, 1e-6, 'step 1');
  // Step 2: g = [2.67, 3.04], ||g|| = sqrt(16.3705) = 4.046047...,
  // g_sam = a * (w1 + 0.5 g / ||g||) = [2.67 + 0.32995, 2 * (1.52 + 0.37568)] = [2.99995, 3.79135],
  // w2 = w1 - 0.1 g_sam = [2.370005, 1.140865].
  noLeak(t, 'minimize', () => opt.minimize(quadratic(w)));
  close(t, w.dataSync(), [2.370005, 1.140865], 2e-6, 1e-6, 'step 2 by hand');
  close(t, w.dataSync(), quadraticSamSgd([3, 2], 0.5, 0.1, 2), 1e-6, 1e-6, 'step 2 float64');
  t.is(opt.iterations, 2, 'iterations come from the base');
  w.dispose();
  opt.dispose();
});

test('a zero gradient gives a zero perturbation, not NaN', (t) => {
  const eps = samPerturbation([tf.zeros([2, 2]), tf.zeros([3])], 0.05, 0);
  t.deepEqual(Array.from(eps[0].dataSync()), [0, 0, 0, 0]);
  t.deepEqual(Array.from(eps[1].dataSync()), [0, 0, 0]);
  tf.dispose(eps);
  const w = tf.variable(tf.zeros([2]), true, 'zero_w');
  const opt = sam(tf.train.sgd(0.1), { rho: 0.05, epsilon: 0 });
  opt.minimize(() => tf.sum(tf.square(w)) as tf.Scalar);
  t.deepEqual(Array.from(w.dataSync()), [0, 0]);
  w.dispose();
});

test('SAM perturbation uses one global norm over all variables', (t) => {
  // g = {[3], [4]} -> ||g|| = 5 -> eps = 0.05 * [3, 4] / 5 = [0.03, 0.04] (not per-tensor [0.05, 0.05]).
  const eps = samPerturbation([tf.tensor1d([3]), tf.tensor1d([4])], 0.05, 1e-12);
  close(t, eps[0].dataSync(), [0.03]);
  close(t, eps[1].dataSync(), [0.04]);
  tf.dispose(eps);
});

test("ASAM's perturbation: T = |w| + eta on kernels, identity on biases", (t) => {
  const kernel = tf.tensor2d([[1, -2], [0.5, 0]]);
  const bias = tf.tensor1d([10, -10]);
  const gk = tf.tensor2d([[0.3, 0.1], [-0.2, 0.4]]);
  const gb = tf.tensor1d([0.5, -0.5]);
  const rho = 0.5;
  const eta = 0.01;
  // T = |w| + eta on the kernel: [[1.01, 2.01], [0.51, 0.01]]; T = 1 on the bias (its |w| = 10 is ignored).
  const T = [1.01, 2.01, 0.51, 0.01];
  const g = [0.3, 0.1, -0.2, 0.4];
  const tg = g.map((v, i) => v * T[i]);
  const norm = Math.sqrt(tg.reduce((a, v) => a + v * v, 0) + 0.25 + 0.25);
  const expectK = tg.map((v, i) => (rho * T[i] * v) / norm);
  const expectB = [0.5, -0.5].map((v) => (rho * v) / norm);
  const eps = noLeak(t, 'asamPerturbation', () => {
    const e = asamPerturbation([gk, gb], [kernel, bias], rho, 1e-12, eta);
    const out = [Array.from(e[0].dataSync()), Array.from(e[1].dataSync())];
    tf.dispose(e);
    return out;
  });
  close(t, eps[0], expectK, 1e-7, 1e-5, 'kernel');
  close(t, eps[1], expectB, 1e-7, 1e-5, 'bias');
  tf.dispose([kernel, bias, gk, gb]);
});

// ---- linear regression: mSAM against an explicit loop and a float64 reference -----------------

const D = 3;
const N = 10;
const Xflat = randomArray(N * D, 11);
const Yflat = randomArray(N, 12);
const X = Array.from({ length: N }, (_, i) => Xflat.slice(i * D, (i + 1) * D));
const W0 = randomArray(D, 13);
const B0 = 0.1;

function makeModel(tag: string) {
  const w = tf.variable(tf.tensor2d(W0, [D, 1]), true, `lin_w_${tag}`);
  const b = tf.variable(tf.tensor1d([B0]), true, `lin_b_${tag}`);
  const lossFn = (xs: tf.Tensor, ys: tf.Tensor) =>
    tf.mean(tf.square(tf.sub(tf.add(tf.matMul(xs as tf.Tensor2D, w), b), ys))) as tf.Scalar;
  return { w, b, lossFn, dispose: () => tf.dispose([w, b]) };
}
const xsT = () => tf.tensor2d(Xflat, [N, D]);
const ysT = () => tf.tensor2d(Yflat, [N, 1]);

/** float64 mSAM + SGD step: slices of sizes `sizes`, size-weighted mean of slice SAM gradients. */
function msamRef(sizes: number[], rho: number, lr: number, adaptive = false, weighted = true) {
  let start = 0;
  const gw = new Array(D).fill(0);
  let gb = 0;
  let loss = 0;
  for (const n of sizes) {
    const g = linRegSamGrad(X.slice(start, start + n), Yflat.slice(start, start + n), W0, B0, rho, adaptive);
    const wt = weighted ? n / N : 1 / sizes.length;
    g.gw.forEach((v, j) => (gw[j] += wt * v));
    gb += wt * g.gb;
    loss += wt * g.loss;
    start += n;
  }
  return { w: W0.map((v, j) => v - lr * gw[j]), b: B0 - lr * gb, loss };
}

test('SAM on linear regression equals the float64 reference (SAM and ASAM)', (t) => {
  for (const adaptive of [false, true]) {
    const m = makeModel(`ref_${adaptive}`);
    const xs = xsT();
    const ys = ysT();
    const opt = sam(tf.train.sgd(0.2), { rho: 0.3, adaptive });
    noLeak(t, 'minimize', () => opt.minimize(() => m.lossFn(xs, ys)));
    const ref = msamRef([N], 0.3, 0.2, adaptive);
    close(t, m.w.dataSync(), ref.w, 1e-6, 1e-5, `w adaptive=${adaptive}`);
    close(t, m.b.dataSync(), [ref.b], 1e-6, 1e-5, `b adaptive=${adaptive}`);
    m.dispose();
    tf.dispose([xs, ys]);
  }
});

test('minimizeOnBatch with microBatches = 1 equals minimize (bit for bit)', (t) => {
  const a = makeModel('mb1_a');
  const b = makeModel('mb1_b');
  const xs = xsT();
  const ys = ysT();
  const optA = sam(tf.train.adam(0.05), { rho: 0.2 });
  const optB = sam(tf.train.adam(0.05), { rho: 0.2, microBatches: 1 });
  for (let s = 0; s < 3; s++) {
    optA.minimize(() => a.lossFn(xs, ys), false, [a.w, a.b]);
    // Adam creates its slot variables on the first step; from then on nothing may be left behind.
    if (s === 0) optB.minimizeOnBatch(b.lossFn, xs, ys, false, [b.w, b.b]);
    else noLeak(t, 'minimizeOnBatch', () => optB.minimizeOnBatch(b.lossFn, xs, ys, false, [b.w, b.b]));
  }
  t.deepEqual(Array.from(b.w.dataSync()), Array.from(a.w.dataSync()));
  t.deepEqual(Array.from(b.b.dataSync()), Array.from(a.b.dataSync()));
  a.dispose();
  b.dispose();
  tf.dispose([xs, ys]);
});

test('mSAM equals an explicit per-micro-batch loop and the float64 reference; uneven split is size-weighted', (t) => {
  const m = makeModel('msam');
  const xs = xsT();
  const ys = ysT();
  const rho = 0.3;
  const lr = 0.2;
  const opt = sam(tf.train.sgd(lr), { rho, microBatches: 3 });
  const cost = noLeak(t, 'minimizeOnBatch', () => {
    const c = opt.minimizeOnBatch(m.lossFn, xs, ys, true)!;
    const v = c.dataSync()[0];
    c.dispose();
    return v;
  });
  // N = 10 rows in 3 micro-batches: sizes [4, 3, 3]; weights 0.4, 0.3, 0.3.
  const ref = msamRef([4, 3, 3], rho, lr);
  close(t, m.w.dataSync(), ref.w, 1e-6, 1e-5, 'w vs float64');
  close(t, m.b.dataSync(), [ref.b], 1e-6, 1e-5, 'b vs float64');
  t.true(Math.abs(cost - ref.loss) < 1e-5, `cost ${cost} is the size-weighted mean loss at w ${ref.loss}`);
  // The unweighted mean (1/3 each) gives a different step: the weighting is observable.
  const unweighted = msamRef([4, 3, 3], rho, lr, false, false);
  t.true(Math.abs(unweighted.w[0] - ref.w[0]) + Math.abs(unweighted.b - ref.b) > 1e-4);

  // Explicit loop with tf ops in the test: per slice, own gradient, own perturbation, restore.
  const loop = makeModel('msam_loop');
  const sizes = [4, 3, 3];
  const xsSlices = tf.split(xs, sizes, 0);
  const ysSlices = tf.split(ys, sizes, 0);
  let gwSum = tf.zeros([D, 1]);
  let gbSum = tf.zeros([1]);
  sizes.forEach((n, s) => {
    const f = () => loop.lossFn(xsSlices[s], ysSlices[s]);
    const g1 = tf.variableGrads(f, [loop.w, loop.b]);
    const norm = tf.sqrt(tf.add(tf.sum(tf.square(g1.grads[loop.w.name])), tf.sum(tf.square(g1.grads[loop.b.name]))));
    const w0 = loop.w.clone();
    const b0 = loop.b.clone();
    loop.w.assign(tf.add(loop.w, tf.mul(g1.grads[loop.w.name], tf.div(rho, norm))));
    loop.b.assign(tf.add(loop.b, tf.mul(g1.grads[loop.b.name], tf.div(rho, norm))));
    const g2 = tf.variableGrads(f, [loop.w, loop.b]);
    loop.w.assign(w0);
    loop.b.assign(b0);
    gwSum = tf.add(gwSum, tf.mul(g2.grads[loop.w.name], n / N));
    gbSum = tf.add(gbSum, tf.mul(g2.grads[loop.b.name], n / N));
  });
  loop.w.assign(tf.sub(loop.w, tf.mul(lr, gwSum)));
  loop.b.assign(tf.sub(loop.b, tf.mul(lr, gbSum)));
  close(t, m.w.dataSync(), loop.w.dataSync(), 1e-6, 1e-5, 'w vs explicit loop');
  close(t, m.b.dataSync(), loop.b.dataSync(), 1e-6, 1e-5, 'b vs explicit loop');
  m.dispose();
  loop.dispose();
  tf.dispose([xs, ys]);
});

test('a batch smaller than microBatches uses one slice per row; arrays of tensors are split too', (t) => {
  const m = makeModel('small');
  const xs = tf.tensor2d(Xflat.slice(0, 2 * D), [2, D]);
  const ys = tf.tensor2d(Yflat.slice(0, 2), [2, 1]);
  const opt = sam(tf.train.sgd(0.2), { rho: 0.3, microBatches: 4 });
  noLeak(t, 'minimizeOnBatch', () =>
    opt.minimizeOnBatch((x: tf.Tensor[], y: tf.Tensor[]) => m.lossFn(x[0], y[0]), [xs], [ys]),
  );
  // 2 rows, 4 micro-batches requested -> 2 slices of 1 row, weights 1/2 each.
  let gw = [0, 0, 0];
  let gb = 0;
  for (let i = 0; i < 2; i++) {
    const g = linRegSamGrad([X[i]], [Yflat[i]], W0, B0, 0.3);
    gw = gw.map((v, j) => v + g.gw[j] / 2);
    gb += g.gb / 2;
  }
  close(t, m.w.dataSync(), W0.map((v, j) => v - 0.2 * gw[j]), 1e-6, 1e-5, 'w');
  close(t, m.b.dataSync(), [B0 - 0.2 * gb], 1e-6, 1e-5, 'b');
  m.dispose();
  tf.dispose([xs, ys]);
});

test('interval: SAM every N steps, plain base steps in between', (t) => {
  const m = makeModel('interval');
  const xs = xsT();
  const ys = ysT();
  const opt = sam(tf.train.sgd(0.2), { rho: 0.3, interval: 2 });
  // Steps 0 and 2 are SAM (iterations % 2 == 0), step 1 is plain SGD.
  let w = W0.slice();
  let b = B0;
  for (let s = 0; s < 3; s++) {
    t.is(opt.isSamStep(), s % 2 === 0);
    noLeak(t, 'minimize', () => opt.minimize(() => m.lossFn(xs, ys)));
    const g = s % 2 === 0 ? linRegSamGrad(X, Yflat, w, b, 0.3) : linRegGrad(X, Yflat, w, b);
    w = w.map((v, j) => v - 0.2 * g.gw[j]);
    b -= 0.2 * g.gb;
  }
  close(t, m.w.dataSync(), w, 1e-6, 1e-5, 'w');
  close(t, m.b.dataSync(), [b], 1e-6, 1e-5, 'b');
  m.dispose();
  tf.dispose([xs, ys]);
});

test('clipNorm clips the final SAM gradient by global norm', (t) => {
  const m = makeModel('clip');
  const xs = xsT();
  const ys = ysT();
  const clip = 0.05;
  const opt = sam(tf.train.sgd(1), { rho: 0.3, clipNorm: clip });
  noLeak(t, 'minimize', () => opt.minimize(() => m.lossFn(xs, ys)));
  const g = linRegSamGrad(X, Yflat, W0, B0, 0.3);
  const norm = Math.sqrt(g.gw.reduce((a, v) => a + v * v, 0) + g.gb * g.gb);
  t.true(norm > clip, 'the test gradient is above the clip norm');
  const s = clip / norm;
  close(t, m.w.dataSync(), W0.map((v, j) => v - s * g.gw[j]), 1e-6, 1e-5, 'w');
  close(t, m.b.dataSync(), [B0 - s * g.gb], 1e-6, 1e-5, 'b');
  m.dispose();
  tf.dispose([xs, ys]);
});

test('the cost returned by minimize is the loss at w (reference check)', (t) => {
  const m = makeModel('cost');
  const xs = xsT();
  const ys = ysT();
  const opt = sam(tf.train.sgd(0.2), { rho: 0.3 });
  const c = opt.minimize(() => m.lossFn(xs, ys), true)!;
  t.true(Math.abs(c.dataSync()[0] - linRegGrad(X, Yflat, W0, B0).loss) < 1e-5);
  c.dispose();
  m.dispose();
  tf.dispose([xs, ys]);
});

test('splitSizes and clipByGlobalNorm helpers', async (t) => {
  const { splitSizes, clipByGlobalNorm, globalNorm } = await import('../../../plugins/core/tensor_utils.ts');
  t.deepEqual(splitSizes(10, 4), [3, 3, 2, 2]); // 10 = 3 + 3 + 2 + 2, larger slices first
  t.deepEqual(splitSizes(2, 4), [1, 1]); // fewer rows than micro-batches: one row each
  t.deepEqual(splitSizes(7, 1), [7]);
  t.throws(() => splitSizes(0, 2), { instanceOf: RangeError });
  // ||[3, 4]|| = 5 > 1 -> scaled by 1/5; a zero list stays zero.
  const clipped = noLeak(t, 'clipByGlobalNorm', () => {
    const g = [tf.tensor1d([3]), tf.tensor1d([4])];
    const c = clipByGlobalNorm(g, 1);
    const out = c.map((x) => Array.from(x.dataSync()));
    const z = tf.zeros([2]);
    const zero = clipByGlobalNorm([z], 1);
    t.deepEqual(Array.from(zero[0].dataSync()), [0, 0]);
    const n = globalNorm(g);
    t.true(Math.abs(n.dataSync()[0] - 5) < 1e-6);
    tf.dispose([...g, ...c, z, ...zero, n]);
    return out;
  });
  close(t, clipped.flat(), [0.6, 0.8]);
});
