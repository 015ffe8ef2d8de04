/**
 * Sharpness diagnostics against closed forms on quadratic losses (plugins/sharpness).
 *
 * Quadratic L(w) = 1/2 (w - c)^T H (w - c), H = Q diag(h) Q^T with a fixed orthogonal Q, so that
 *   - the Hessian is H everywhere: the top eigenvalue is max(h), exactly;
 *   - at w = c, max_{||e|| <= rho} L(c + e) - L(c) = 1/2 rho^2 max(h) (for max(h) > 0);
 *   - at w != c, with g = H (w - c), the max of g.e + 1/2 e^T H e on the ball (a trust-region problem)
 *     is attained at e = (lambda I - H)^{-1} g with lambda > max(h) and ||e|| = rho; the test finds
 *     lambda by float64 bisection in the eigenbasis (an independent reference).
 * w is split across two variables (shapes [3] and [2, 1]) so the flattening of weight vectors is tested.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// Importing tfjs-layers registers every kernel gradient.
import '@tensorflow/tfjs-layers';
import { mSharpness, topHessianEigenvalue, resolveHessianEigenOptions, resolveMSharpnessOptions } from '../../../plugins/sharpness/index.ts';
import { OptionError } from '../../../plugins/core/errors.ts';

test.before(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

const N = 5;

/** A fixed orthogonal matrix: Gram-Schmidt on a seeded matrix (float64). */
function orthogonal(seed: number): number[][] {
  let s = seed;
  const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647) - 0.5;
  const q: number[][] = [];
  for (let i = 0; i < N; i++) {
    let v = Array.from({ length: N }, rand);
    for (const u of q) {
      const d = v.reduce((a, x, k) => a + x * u[k], 0);
      v = v.map((x, k) => x - d * u[k]);
    }
    const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    q.push(v.map((x) => x / n));
  }
  return q; // rows are orthonormal: q[i] is the i-th eigenvector
}

const Q = orthogonal(7);

/** H = sum_i h_i q_i q_i^T (float64). */
function hessian(h: number[]): number[][] {
  return Array.from({ length: N }, (_, a) => Array.from({ length: N }, (_, b) => h.reduce((s, hi, i) => s + hi * Q[i][a] * Q[i][b], 0)));
}

/** Variables holding w (5 numbers) as [3] and [2, 1]. */
function makeVars(w: number[]): tf.Variable[] {
  return [tf.variable(tf.tensor1d(w.slice(0, 3))), tf.variable(tf.tensor2d(w.slice(3), [2, 1]))];
}

function quadraticLoss(vars: tf.Variable[], H: number[][], c: number[]): () => tf.Scalar {
  const Ht = tf.tensor2d(H);
  const ct = tf.tensor2d(c, [N, 1]);
  const f = () => tf.tidy(() => {
    const w = tf.concat([tf.reshape(vars[0], [3, 1]), vars[1]], 0);
    const d = tf.sub(w, ct);
    return tf.mul(0.5, tf.sum(tf.mul(d, tf.matMul(Ht, d)))) as tf.Scalar;
  });
  (f as { dispose?: () => void }).dispose = () => tf.dispose([Ht, ct]);
  return f;
}

function values(vars: tf.Variable[]): number[] {
  return vars.flatMap((v) => Array.from(v.dataSync()));
}

/** Float64 reference: max over ||e|| <= rho of g.e + 1/2 e^T H e for H = Q diag(h) Q^T, g = H d (max(h) > 0). */
function trustRegionMax(h: number[], d: number[], rho: number): number {
  // In the eigenbasis: d_i = q_i . d, g_i = h_i d_i.
  const di = Q.map((q) => q.reduce((s, x, k) => s + x * d[k], 0));
  const gi = di.map((x, i) => h[i] * x);
  const hmax = Math.max(...h);
  const norm = (lam: number) => Math.sqrt(gi.reduce((s, g, i) => s + (g / (lam - h[i])) ** 2, 0));
  let lo = hmax + 1e-12;
  let hi = hmax + 1;
  while (norm(hi) > rho) hi *= 2;
  for (let it = 0; it < 200; it++) {
    const mid = (lo + hi) / 2;
    if (norm(mid) > rho) lo = mid;
    else hi = mid;
  }
  const e = gi.map((g, i) => g / (hi - h[i]));
  return gi.reduce((s, g, i) => s + g * e[i] + 0.5 * h[i] * e[i] * e[i], 0);
}

test('top Hessian eigenvalue of a quadratic: exact (double backprop) and finite differences give max(h)', (t) => {
  const h = [3, 1.5, 0.5, -0.2, 0.1];
  const vars = makeVars([0.3, -0.1, 0.2, 0.5, -0.4]);
  const loss = quadraticLoss(vars, hessian(h), [0, 0, 0, 0, 0]);
  const before = tf.memory().numTensors;
  const w0 = values(vars);
  for (const hvp of ['exact', 'finite-difference', 'auto'] as const) {
    const r = topHessianEigenvalue(loss, vars, { hvp, tolerance: 1e-7, maxIterations: 500, seed: 3 });
    t.true(Math.abs(r.eigenvalue - 3) < 3e-4, `${hvp}: ${r.eigenvalue}`);
    t.is(r.hvp, hvp === 'finite-difference' ? 'finite-difference' : 'exact');
    t.true(r.converged);
    t.is(r.history.length, r.iterations);
  }
  t.is(tf.memory().numTensors, before, 'no tensor leak');
  t.deepEqual(values(vars), w0, 'variables unchanged');
  (loss as { dispose?: () => void }).dispose?.();
  tf.dispose(vars);
});

test('a dominant negative eigenvalue is reported as `dominant`; the shifted iteration returns the top one', (t) => {
  const h = [-4, 2, 1, 0.5, 0.1];
  const vars = makeVars([0, 0, 0, 0, 0]);
  const loss = quadraticLoss(vars, hessian(h), [1, 0, 0, 0, 0]);
  const before = tf.memory().numTensors;
  const r = topHessianEigenvalue(loss, vars, { hvp: 'exact', tolerance: 1e-9, maxIterations: 400 });
  t.true(Math.abs(r.dominant + 4) < 1e-3, `dominant ${r.dominant}`);
  t.true(Math.abs(r.eigenvalue - 2) < 1e-3, `top ${r.eigenvalue}`);
  t.is(tf.memory().numTensors, before);
  (loss as { dispose?: () => void }).dispose?.();
  tf.dispose(vars);
});

test('a linear loss has a zero Hessian: eigenvalue 0, and its m-sharpness is rho * ||g|| exactly', (t) => {
  const vars = makeVars([1, 2, 3, 4, 5]);
  const g = [0.5, -1, 2, 0, 1];
  const gt = tf.tensor1d(g);
  const loss = () => tf.tidy(() => tf.sum(tf.mul(tf.concat([vars[0], tf.reshape(vars[1], [2])]), gt)) as tf.Scalar);
  const r = topHessianEigenvalue(loss, vars, { hvp: 'exact' });
  t.is(r.eigenvalue, 0);
  t.true(r.converged);
  const rho = 0.2;
  const s = mSharpness([loss], vars, { rho, steps: 3 });
  // The first normalized step of length rho/2 along g and the second reach e = rho g/||g||.
  const expected = rho * Math.sqrt(g.reduce((a, x) => a + x * x, 0));
  t.true(Math.abs(s.value - expected) < 1e-5, `${s.value} vs ${expected}`);
  gt.dispose();
  tf.dispose(vars);
});

test('m-sharpness at the minimum of a quadratic is rho^2 max(h) / 2 (random start, PGA converges)', (t) => {
  const h = [3, 1, 0.5, 0.25, 0.1];
  const c = [0.2, -0.3, 0.1, 0, 0.4];
  const vars = makeVars(c);
  const loss = quadraticLoss(vars, hessian(h), c);
  const rho = 0.1;
  const before = tf.memory().numTensors;
  const r = mSharpness([loss], vars, { rho, steps: 60 });
  const expected = 0.5 * rho * rho * 3;
  t.true(Math.abs(r.value - expected) < 1e-3 * expected, `${r.value} vs ${expected}`);
  t.true(r.value <= expected * (1 + 1e-4), 'PGA is a lower bound of the max');
  t.is(tf.memory().numTensors, before);
  t.deepEqual(values(vars), c.map(Math.fround), 'variables restored exactly');
  (loss as { dispose?: () => void }).dispose?.();
  tf.dispose(vars);
});

test('m-sharpness averages the trust-region maxima of the micro-batches (float64 secular-equation reference)', (t) => {
  const h = [2, 1, 0.6, 0.3, 0.05];
  const w = [0.1, 0.2, -0.1, 0.3, 0];
  const centers = [[0, 0, 0, 0, 0], [0.3, -0.2, 0.1, 0.2, -0.1]];
  const vars = makeVars(w);
  const losses = centers.map((c) => quadraticLoss(vars, hessian(h), c));
  const rho = 0.05;
  const r = mSharpness(losses, vars, { rho, steps: 50, stepSize: 0.5 });
  const refs = centers.map((c) => trustRegionMax(h, w.map((x, i) => x - c[i]), rho));
  refs.forEach((ref, k) => t.true(Math.abs(r.perMicroBatch[k] - ref) < 2e-3 * ref + 1e-6, `micro-batch ${k}: ${r.perMicroBatch[k]} vs ${ref}`));
  const mean = (refs[0] + refs[1]) / 2;
  t.true(Math.abs(r.value - mean) < 2e-3 * mean, `${r.value} vs ${mean}`);
  // The base loss of each micro-batch is L_k(w).
  const H = hessian(h);
  centers.forEach((c, k) => {
    const d = w.map((x, i) => x - c[i]);
    const L = 0.5 * d.reduce((s, di, a) => s + di * H[a].reduce((u, hab, b) => u + hab * d[b], 0), 0);
    t.true(Math.abs(r.baseLoss[k] - L) < 1e-5);
  });
  t.is(r.rho, rho);
  losses.forEach((l) => (l as { dispose?: () => void }).dispose?.());
  tf.dispose(vars);
});

test('more PGA steps never give a smaller estimate; rho = tiny gives ~0', (t) => {
  const h = [2, 1, 0.6, 0.3, 0.05];
  const vars = makeVars([0.1, 0.2, -0.1, 0.3, 0]);
  const loss = quadraticLoss(vars, hessian(h), [0, 0, 0, 0, 0]);
  const a = mSharpness([loss], vars, { rho: 0.1, steps: 2 }).value;
  const b = mSharpness([loss], vars, { rho: 0.1, steps: 20 }).value;
  t.true(b >= a - 1e-7, `${b} >= ${a}`);
  t.true(mSharpness([loss], vars, { rho: 1e-6, steps: 2 }).value < 1e-5);
  (loss as { dispose?: () => void }).dispose?.();
  tf.dispose(vars);
});

test('options are validated before any work, with messages naming the option and value', (t) => {
  t.throws(() => resolveMSharpnessOptions({ rho: 0 }), { instanceOf: OptionError, message: /`rho` must be a finite number > 0. Received: rho=0/ });
  t.throws(() => resolveMSharpnessOptions({ steps: 0 }), { message: /`steps` must be an integer in 1..10000. Received: steps=0/ });
  t.throws(() => resolveMSharpnessOptions({ stepSize: -1 }), { message: /`stepSize`/ });
  t.throws(() => resolveMSharpnessOptions({ rh: 1 } as never), { message: /Unknown option `rh` for mSharpness/ });
  t.throws(() => resolveHessianEigenOptions({ hvp: 'fd' as never }), { message: /`hvp` must be one of 'exact', 'finite-difference', 'auto'. Received: hvp="fd"/ });
  t.throws(() => resolveHessianEigenOptions({ tolerance: -1 }), { message: /`tolerance`/ });
  t.throws(() => resolveHessianEigenOptions({ maxIterations: 1.5 }), { message: /`maxIterations` must be an integer/ });
  t.throws(() => resolveHessianEigenOptions({ fdEpsilon: 0 }), { message: /`fdEpsilon`/ });
  t.throws(() => resolveHessianEigenOptions({ onProgress: 3 } as never), { message: /`onProgress` must be a function/ });
  const vars = makeVars([0, 0, 0, 0, 0]);
  const before = tf.memory().numTensors;
  t.throws(() => mSharpness([], vars), { message: /`microBatchLosses` must be a non-empty array/ });
  t.throws(() => topHessianEigenvalue(() => tf.scalar(0), vars, { seed: -1 }), { message: /`seed`/ });
  t.is(tf.memory().numTensors, before);
  tf.dispose(vars);
});

test('progress is reported per micro-batch and per power iteration', (t) => {
  const vars = makeVars([0.1, 0, 0, 0, 0]);
  const loss = quadraticLoss(vars, hessian([1, 0.5, 0.2, 0.1, 0.05]), [0, 0, 0, 0, 0]);
  const seen: string[] = [];
  mSharpness([loss, loss], vars, { steps: 1, onProgress: (p) => seen.push(`${p.stage} ${p.done}/${p.total}`) });
  t.deepEqual(seen, ['m-sharpness 1/2', 'm-sharpness 2/2']);
  const its: number[] = [];
  const r = topHessianEigenvalue(loss, vars, { maxIterations: 4, tolerance: 0, onProgress: (p) => its.push(p.done) });
  t.deepEqual(its, [1, 2, 3, 4]);
  t.false(r.converged);
  (loss as { dispose?: () => void }).dispose?.();
  tf.dispose(vars);
});
