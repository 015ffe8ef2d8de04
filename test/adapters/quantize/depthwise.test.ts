/**
 * DepthwiseConv2D and SeparableConv2D layer problems (adapters/quantize/depthwise_problem.ts):
 * the problems reproduce the layers' own outputs, every method reduces to rounding when each S_c
 * is diagonal, and the quantized model saves, loads and predicts identically.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { quantizeModel } from '../../../adapters/quantize/quantize_model.ts';
import { runQuantizeModel } from '../../../adapters/quantize/run_quantize.ts';
import { depthwiseOutput, depthwisePatches } from '../../../adapters/quantize/depthwise_problem.ts';
import { patchSpec } from '../../../adapters/quantize/capture.ts';
import { kernelParts, kernelToProblem } from '../../../adapters/quantize/layer_problems.ts';
import { CovarianceAccumulator } from '../../../plugins/quantease/covariance.ts';
import { quantizeLayer } from '../../../plugins/quantease/quantize_layer.ts';
import { dequantize } from '../../../plugins/quantease/dequantize.ts';
import { saveQuantized } from '../../../adapters/io/save_quantized.ts';
import { loadQuantized } from '../../../adapters/io/load_quantized.ts';
import { problemDataToKernelData } from '../../../adapters/io/layout.ts';
import { correlatedImages, outputError, weightValues } from './models.ts';

const init = (s: number) => tfl.initializers.glorotNormal({ seed: 500 + s });

/** A MobileNet-like stack: Conv2D -> DepthwiseConv2D(x2, stride 2) -> SeparableConv2D -> pool -> Dense. */
function mobileModel(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 2], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1), name: 'stem' }),
      tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', activation: 'relu', depthwiseInitializer: init(2), biasInitializer: 'ones', name: 'dw' }),
      tfl.layers.separableConv2d({ filters: 8, kernelSize: 3, padding: 'valid', activation: 'relu', depthwiseInitializer: init(3), pointwiseInitializer: init(4), name: 'sep' }),
      tfl.layers.globalAveragePooling2d({ name: 'pool' }),
      tfl.layers.dense({ units: 4, kernelInitializer: init(5), name: 'head' }),
    ],
  });
}

/** The patch geometry the depthwise part uses (what the layer computes). */
function kernelPartsSpec(layer: tfl.layers.Layer) {
  const spec = patchSpec(layer);
  return { ...spec, dilations: [1, 1] };
}

let calib: tf.Tensor4D;
let probe: tf.Tensor4D;
test.before(async () => {
  await tf.setBackend('cpu');
  calib = correlatedImages(64, 3);
  probe = correlatedImages(32, 9);
});
test.after.always(() => tf.dispose([calib, probe]));

for (const [label, cfg] of [
  ['multiplier 2, stride 2, same', { kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same' }],
  // tfjs-layers' DepthwiseConv2D ignores dilationRate: the problem must follow the layer, not its config.
  ['multiplier 1, 2x3 kernel, dilationRate 2 (ignored by tfjs), valid', { kernelSize: [2, 3], depthMultiplier: 1, dilationRate: 2, padding: 'valid' }],
] as const) {
  test.serial(`DepthwiseConv2D: X_c W_c^T for every channel is the layer's own output (${label})`, (t) => {
    const layer = tfl.layers.depthwiseConv2d({ ...cfg, useBias: false, depthwiseInitializer: init(7) } as never);
    const x = correlatedImages(3, 1); // [3, 8, 8, 2]
    const y = layer.apply(x) as tf.Tensor4D; // [3, oh, ow, cin*m]
    const before = tf.memory().numTensors;
    const got = tf.tidy(() => {
      const xs = depthwisePatches(x, kernelPartsSpec(layer)); // [cin, n, T]
      const w = kernelToProblem(layer.weights[0].read(), 'depthwise'); // [cin*m, T]
      const m = cfg.depthMultiplier;
      const wc = tf.reshape(w, [2, m, -1]); // [cin, m, T]: block c is channel c's problem
      const yc = tf.matMul(xs, wc, false, true); // [cin, n, m]
      return tf.reshape(tf.transpose(yc, [1, 0, 2]), [-1, 2 * m]); // [n, cin*m], column c*m + j
    });
    const want = tf.reshape(y, [-1, y.shape[3]]);
    t.deepEqual(got.shape, want.shape);
    t.true(tf.tidy(() => tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]) < 1e-5);
    tf.dispose([got, want]);
    t.is(tf.memory().numTensors, before);
    tf.dispose([x, y]);
    layer.dispose();
  });
}

test.serial("SeparableConv2D: depthwise part's output times the pointwise W^T is the layer's own output", (t) => {
  const layer = tfl.layers.separableConv2d({ filters: 5, kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', useBias: false, depthwiseInitializer: init(8), pointwiseInitializer: init(9) });
  const x = correlatedImages(3, 2);
  const y = layer.apply(x) as tf.Tensor4D; // [3, 4, 4, 5]
  const [dw, pw] = kernelParts(layer);
  t.is(dw.layout, 'depthwise');
  t.is(dw.blocks, 2);
  t.is(pw.width, 4);
  const err = tf.tidy(() => {
    const d = depthwiseOutput(layer, x); // [3, 4, 4, cin*m]
    const rows = tf.reshape(d, [-1, 4]);
    const got = tf.matMul(rows, kernelToProblem(pw.variable.read()), false, true); // [n, 5]
    return tf.max(tf.abs(tf.sub(got, tf.reshape(y, [-1, 5])))).dataSync()[0];
  });
  t.true(err < 1e-5, `max error ${err}`);
  tf.dispose([x, y]);
  layer.dispose();
});

test.serial('the per-channel S_c equal X_c^T X_c computed from the patches in float64', (t) => {
  const layer = tfl.layers.depthwiseConv2d({ kernelSize: 2, padding: 'valid', depthwiseInitializer: init(1), inputShape: [8, 8, 2] } as never);
  const x = correlatedImages(4, 5);
  layer.apply(x); // builds it
  const acc = kernelParts(layer)[0].accumulator((w) => new CovarianceAccumulator(w));
  acc.add(tf.slice(x, [0], [2]));
  acc.add(tf.slice(x, [2], [2]));
  const img = x.arraySync() as number[][][][]; // [4, 8, 8, 2]
  for (const c of [0, 1]) {
    const s = acc.sigma(c);
    const sd = s.arraySync();
    s.dispose();
    // S_c[t, u] = sum over images and output pixels of x[b, p+i_t, q+j_t, c] * x[b, p+i_u, q+j_u, c]
    const taps = [[0, 0], [0, 1], [1, 0], [1, 1]];
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) {
        let ref = 0;
        for (let n = 0; n < 4; n++) for (let p = 0; p < 7; p++) for (let q = 0; q < 7; q++) {
          ref += img[n][p + taps[a][0]][q + taps[a][1]][c] * img[n][p + taps[b][0]][q + taps[b][1]][c];
        }
        t.true(Math.abs(sd[a][b] - ref) <= 1e-4 * Math.max(1, Math.abs(ref)), `c=${c} S[${a}][${b}] ${sd[a][b]} vs ${ref}`);
      }
    }
  }
  t.is(acc.count, 4 * 49);
  acc.dispose();
  x.dispose();
  layer.dispose();
});

test.serial('with every S_c diagonal, GPTQ and QuantEase give exactly the RTN codes for depthwise and separable kernels', async (t) => {
  const model = mobileModel();
  // The layer quantizer sees only diag(S): rounding is then optimal for every method.
  const diagonal = (p: { weight: tf.Tensor2D; sigma: tf.Tensor2D }, o: object) => {
    const s = tf.tidy(() => tf.mul(p.sigma, tf.eye(p.sigma.shape[0])) as tf.Tensor2D);
    return quantizeLayer({ weight: p.weight, sigma: s }, o).finally(() => s.dispose());
  };
  const acc = (w: number) => new CovarianceAccumulator(w);
  const codes: Record<string, Map<string, Uint8Array>> = {};
  for (const method of ['rtn', 'gptq', 'quantease'] as const) {
    // The same min/max grid for every method (the default's clip search and refit move the grid).
    const r = await runQuantizeModel(model, calib, { method, bits: 3, workers: 1, sweeps: 5, clip: false, refit: 0, include: ['dw', 'sep'] }, diagonal, acc);
    codes[method] = new Map([...r.payload].map(([k, v]) => [k, v.codes]));
    t.deepEqual([...r.payload.keys()].sort(), ['dw/depthwise_kernel', 'sep/depthwise_kernel', 'sep/pointwise_kernel']);
    r.model.dispose();
  }
  for (const k of codes.rtn.keys()) {
    t.deepEqual(codes.gptq.get(k), codes.rtn.get(k), k);
    t.deepEqual(codes.quantease.get(k), codes.rtn.get(k), k);
  }
  model.dispose();
});

test.serial('quantizeModel quantizes DepthwiseConv2D and SeparableConv2D, never worse than RTN, in every capture mode, without leaks', async (t) => {
  const model = mobileModel();
  const floatWeights = weightValues(model);
  const before = tf.memory().numTensors;
  for (const sequential of [true, false]) {
    // depthwiseBits 'same': the depthwise kernels at 3 bits too (their default is 8).
    const { model: q, report, payload } = await quantizeModel(model, calib, { method: 'quantease', bits: 3, sweeps: 8, sequential, workers: 1, depthwiseBits: 'same' });
    t.is(report.totals.quantizedLayers, 4);
    const byName = new Map(report.layers.map((l) => [l.name, l]));
    for (const name of ['stem', 'dw', 'sep', 'head']) {
      const l = byName.get(name)!;
      t.is(l.status, 'quantized', name);
      t.true(l.relativeError! <= l.rtnRelativeError! * 1.0001 + 1e-9, `${name}: ${l.relativeError} vs RTN ${l.rtnRelativeError}`);
      t.true(l.packedBytes < l.float32Bytes / 2, name);
    }
    // Every quantized kernel in the model is exactly its payload dequantized, in its layout.
    for (const [name, p] of payload) {
      const layerName = name.split('/')[0];
      const w = q.getLayer(layerName).weights.find((v) => v.originalName === name)!;
      t.deepEqual(w.read().dataSync(), problemDataToKernelData(dequantize(p), p.shape, p.layout), name);
    }
    t.is(payload.get('dw/depthwise_kernel')!.layout, 'depthwise');
    // What stays float32 is the biases: dw has cin*m = 12, sep 8, the stem 6 and the head 4.
    t.is(byName.get('dw')!.float32KeptBytes, 12 * 4);
    t.is(byName.get('sep')!.float32KeptBytes, 8 * 4);
    t.is(report.totals.float32KeptBytes, (12 + 8 + 6 + 4) * 4);
    t.is(payload.get('sep/pointwise_kernel')!.layout, undefined);
    t.true(outputError(model, q, probe) > 0);
    q.dispose();
  }
  t.deepEqual(weightValues(model), floatWeights); // the input model is untouched
  t.is(tf.memory().numTensors, before);
  model.dispose();
});

test.serial('the sub-model capture path and the propagation give the same quantized separable model', async (t) => {
  const model = mobileModel();
  const acc = (w: number) => new CovarianceAccumulator(w);
  const opts = { method: 'gptq', bits: 4, workers: 1 } as const;
  const a = await runQuantizeModel(model, calib, opts, quantizeLayer, acc, 'propagate');
  const b = await runQuantizeModel(model, calib, opts, quantizeLayer, acc, 'submodel');
  for (const [k, v] of a.payload) t.deepEqual(b.payload.get(k)!.codes, v.codes, k);
  a.model.dispose();
  b.model.dispose();
  model.dispose();
});

test.serial('inPlace writes the depthwise and pointwise kernels into the caller model', async (t) => {
  const model = mobileModel();
  const { payload } = await quantizeModel(model, calib, { method: 'rtn', bits: 4, inPlace: true, workers: 1 });
  const sep = model.getLayer('sep');
  for (const w of sep.weights.filter((v) => /kernel$/.test(v.originalName))) {
    const p = payload.get(w.originalName)!;
    t.deepEqual(w.read().dataSync(), problemDataToKernelData(dequantize(p), p.shape, p.layout), w.originalName);
  }
  model.dispose();
});

test.serial('save then load (packed) gives identical predictions for a depthwise/separable model', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'qdw-'));
  try {
    const model = mobileModel();
    const quantized = await quantizeModel(model, calib, { method: 'quantease', bits: 4, sweeps: 6, outliers: { fraction: 0.05 }, workers: 1 });
    const saved = await saveQuantized(quantized, dir);
    t.is(saved.weightsBytes, quantized.report.totals.packedBytes);
    const before = tf.memory().numTensors;
    const loaded = await loadQuantized(dir);
    const a = tf.tidy(() => (quantized.model.predict(probe) as tf.Tensor).dataSync());
    const b = tf.tidy(() => (loaded.predict(probe) as tf.Tensor).dataSync());
    t.deepEqual(b, a);
    loaded.dispose();
    t.is(tf.memory().numTensors, before);
    quantized.model.dispose();
    model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
