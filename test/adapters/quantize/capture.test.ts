import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfd from '@tensorflow/tfjs-data';
import { conv1dPatches, conv2dPatches, captureCovariance, type PatchSpec } from '../../../adapters/quantize/capture.ts';
import { calibrationSource } from '../../../adapters/quantize/calibration.ts';
import { kernelToProblem, problemToKernel, problemDataToKernelData } from '../../../adapters/quantize/layer_problems.ts';
import { CovarianceAccumulator } from '../../../plugins/quantease/covariance.ts';

test.before(async () => {
  await tf.setBackend('cpu');
});

/**
 * Explicit im2col, written independently of the library: for output pixel (b, oy, ox) and kernel
 * tap (i, j, ch), the input pixel is (oy*sh + i*dh - padTop, ox*sw + j*dw - padLeft), zero outside.
 * 'same' pads so that out = ceil(h / s) with padTop = floor(total / 2), total = max((out-1)*s + (k-1)*d + 1 - h, 0).
 */
function im2col(x: number[][][][], kh: number, kw: number, s: [number, number], d: [number, number], padding: 'same' | 'valid'): number[][] {
  const [b, h, w, cin] = [x.length, x[0].length, x[0][0].length, x[0][0][0].length];
  const ek = (k: number, dd: number) => (k - 1) * dd + 1;
  const dim = (n: number, k: number, st: number, dd: number) =>
    padding === 'same' ? Math.ceil(n / st) : Math.floor((n - ek(k, dd)) / st) + 1;
  const oh = dim(h, kh, s[0], d[0]);
  const ow = dim(w, kw, s[1], d[1]);
  const pad = (o: number, n: number, k: number, st: number, dd: number) =>
    padding === 'same' ? Math.floor(Math.max((o - 1) * st + ek(k, dd) - n, 0) / 2) : 0;
  const pt = pad(oh, h, kh, s[0], d[0]);
  const pl = pad(ow, w, kw, s[1], d[1]);
  const rows: number[][] = [];
  for (let n = 0; n < b; n++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    const row: number[] = [];
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let c = 0; c < cin; c++) {
      const y = oy * s[0] + i * d[0] - pt;
      const xx = ox * s[1] + j * d[1] - pl;
      row.push(y >= 0 && y < h && xx >= 0 && xx < w ? x[n][y][xx][c] : 0);
    }
    rows.push(row);
  }
  return rows;
}

const cases: Array<{ k: [number, number]; s: [number, number]; d: [number, number]; p: 'same' | 'valid' }> = [
  { k: [3, 3], s: [1, 1], d: [1, 1], p: 'valid' },
  { k: [3, 3], s: [1, 1], d: [1, 1], p: 'same' },
  { k: [3, 2], s: [2, 2], d: [1, 1], p: 'same' },
  { k: [2, 3], s: [2, 1], d: [1, 1], p: 'valid' },
  { k: [3, 3], s: [1, 1], d: [2, 2], p: 'valid' },
  { k: [3, 3], s: [1, 1], d: [2, 1], p: 'same' },
];

test('Conv2D patches equal an explicit im2col for strides, padding and dilation', (t) => {
  const x = tf.randomNormal([2, 7, 6, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
  const xs = x.arraySync();
  const before = tf.memory().numTensors;
  for (const c of cases) for (const method of ['conv', 'slices'] as const) {
    const spec: PatchSpec = { kernelSize: c.k, strides: c.s, dilations: c.d, padding: c.p, channelsFirst: false, method };
    const got = conv2dPatches(x, spec);
    const want = im2col(xs, c.k[0], c.k[1], c.s, c.d, c.p);
    t.deepEqual(got.shape, [want.length, c.k[0] * c.k[1] * 3], JSON.stringify(c));
    const g = got.arraySync();
    let maxDiff = 0;
    want.forEach((row, r) => row.forEach((v, j) => { maxDiff = Math.max(maxDiff, Math.abs(v - g[r][j])); }));
    t.true(maxDiff < 1e-6, `${method} ${JSON.stringify(c)} max diff ${maxDiff}`);
    got.dispose();
  }
  // channelsFirst input [b, cin, h, w] gives the same rows as its NHWC transpose.
  const spec: PatchSpec = { kernelSize: [3, 2], strides: [2, 1], dilations: [1, 1], padding: 'same', channelsFirst: false };
  tf.tidy(() => {
    const a = conv2dPatches(x, spec).dataSync();
    const b = conv2dPatches(tf.transpose(x, [0, 3, 1, 2]) as tf.Tensor4D, { ...spec, channelsFirst: true }).dataSync();
    t.deepEqual(b, a);
  });
  t.is(tf.memory().numTensors, before);
  x.dispose();
});

test('Conv1D patches equal an explicit im2col (as a 1-row image)', (t) => {
  const x = tf.randomNormal([2, 9, 3], 0, 1, 'float32', 12) as tf.Tensor3D;
  const x4 = x.arraySync().map((seq) => [seq]); // [b, 1, t, cin]
  for (const c of [{ k: 3, s: 1, d: 1, p: 'valid' as const }, { k: 3, s: 2, d: 1, p: 'same' as const }, { k: 2, s: 1, d: 3, p: 'same' as const }]) for (const method of ['conv', 'slices'] as const) {
    const got = conv1dPatches(x, { kernelSize: [c.k], strides: [c.s], dilations: [c.d], padding: c.p, channelsFirst: false, method });
    const want = im2col(x4, 1, c.k, [1, c.s], [1, c.d], c.p);
    const g = got.arraySync();
    t.is(g.length, want.length);
    t.true(want.every((row, r) => row.every((v, j) => Math.abs(v - g[r][j]) < 1e-6)), JSON.stringify(c));
    got.dispose();
  }
  x.dispose();
});

test('X W^T with patches and the [out, in] kernel equals the Conv2D / Conv1D / Dense output', (t) => {
  // The flattening orders of patches and kernel agree: conv(x, K) = patches(x) * W^T, W = kernelToProblem(K).
  tf.tidy(() => {
    const x = tf.randomNormal([2, 7, 6, 3], 0, 1, 'float32', 13) as tf.Tensor4D;
    const k = tf.randomNormal([3, 2, 3, 5], 0, 1, 'float32', 14) as tf.Tensor4D;
    const y = tf.conv2d(x, k, [2, 1], 'same'); // [2, 4, 6, 5]
    const xw = tf.matMul(conv2dPatches(x, { kernelSize: [3, 2], strides: [2, 1], dilations: [1, 1], padding: 'same', channelsFirst: false }), kernelToProblem(k), false, true);
    t.true(tf.max(tf.abs(tf.sub(tf.reshape(y, [-1, 5]), xw))).dataSync()[0] < 1e-4);
    const x1 = tf.randomNormal([2, 9, 3], 0, 1, 'float32', 15) as tf.Tensor3D;
    const k1 = tf.randomNormal([3, 3, 4], 0, 1, 'float32', 16) as tf.Tensor3D;
    const y1 = tf.conv1d(x1, k1, 1, 'valid', 'NWC', 2);
    const xw1 = tf.matMul(conv1dPatches(x1, { kernelSize: [3], strides: [1], dilations: [2], padding: 'valid', channelsFirst: false }), kernelToProblem(k1), false, true);
    t.true(tf.max(tf.abs(tf.sub(tf.reshape(y1, [-1, 4]), xw1))).dataSync()[0] < 1e-4);
    // Round trip kernel -> [out, in] -> kernel, tensor and typed-array forms.
    const back = problemToKernel(kernelToProblem(k), k.shape);
    t.deepEqual(back.dataSync(), k.dataSync());
    t.deepEqual(problemDataToKernelData(kernelToProblem(k).dataSync() as Float32Array, k.shape), k.dataSync());
    const dk = tf.randomNormal([6, 4], 0, 1, 'float32', 17); // Dense [in, out]
    t.deepEqual(kernelToProblem(dk).arraySync(), tf.transpose(dk).arraySync());
  });
});

test('calibration as a tensor, an array and a Dataset give the same S (streamed in batches)', async (t) => {
  const model = tfl.sequential({ layers: [
    tfl.layers.dense({ inputShape: [6], units: 5, kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }), activation: 'tanh', name: 'd0' }),
    tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }), name: 'd1' }),
  ] });
  const x = tf.randomNormal([50, 6], 0, 1, 'float32', 21);
  const before = tf.memory().numTensors;
  const layer = model.getLayer('d1');
  const sigmaOf = async (src: Parameters<typeof calibrationSource>[0], batch: number) => {
    const acc = new CovarianceAccumulator(5);
    await captureCovariance(model, layer, calibrationSource(src, model, batch), acc);
    const s = acc.sigma();
    acc.dispose();
    const v = s.dataSync() as Float32Array;
    s.dispose();
    return { v, count: 0 };
  };
  // Reference: S = h^T h with h = tanh(x W0 + b0), all rows at once, accumulated in float64.
  const h = tf.tidy(() => (model.layers[0].apply(x) as tf.Tensor).arraySync() as number[][]);
  const ref = new Float64Array(25);
  for (const row of h) for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) ref[i * 5 + j] += row[i] * row[j];
  const whole = await sigmaOf(x, 1000);
  const batched = await sigmaOf(x, 7);
  const array = await sigmaOf([x], 16);
  const parts = [0, 20, 37].map((s, i, a) => tf.slice(x, s, (a[i + 1] ?? 50) - s));
  const ds = tfd.array(parts); // elements are batches [n_b, 6]
  const fromDataset = await sigmaOf(ds, 999);
  const fromXs = await sigmaOf({ iterator: async () => { let i = 0; return { next: async () => (i < 3 ? { value: { xs: parts[i++].clone() }, done: false } : { value: undefined, done: true }) }; } }, 4);
  tf.dispose(parts);
  for (const s of [whole, batched, array, fromDataset, fromXs]) {
    for (let k = 0; k < 25; k++) t.true(Math.abs(s.v[k] - ref[k]) < 1e-4 * (1 + Math.abs(ref[k])), `entry ${k}: ${s.v[k]} vs ${ref[k]}`);
  }
  t.is(tf.memory().numTensors, before);
  x.dispose();
  model.dispose();
});
